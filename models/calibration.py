"""Writing an embedder's calibrated operating points into the model manifest, keeping its comments (tomlkit)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import tomlkit

from models.registry import MANIFEST_PATH, ModelError, load_manifest, parse_manifest


def _table(values: Mapping[str, Any]) -> Any:
    table = tomlkit.table()
    for key, value in values.items():
        if isinstance(value, Mapping):
            inline = tomlkit.inline_table()
            inline.update(value)
            table[key] = inline
        else:
            table[key] = value
    return table


def write_calibration(
    model_id: str,
    points: Sequence[Mapping[str, Any]],
    calibration: Mapping[str, Any],
    *,
    path: Path = MANIFEST_PATH,
) -> None:
    """Replace embedder ``model_id``'s ``operating_points`` and its ``calibration`` table.

    Each point needs ``target_fmr`` and ``threshold``; the rest is what was
    measured there. The new text is checked by the manifest parser before it
    replaces the file (written next to it, then renamed), so a failed write
    leaves it unchanged.
    """
    document = tomlkit.parse(path.read_text())
    models = document.get("models")
    if models is None or model_id not in models:
        raise ModelError(f"model {model_id!r} is not in {path}")
    entry = models[model_id]
    if entry.get("kind") != "embedder":
        raise ModelError(f"model {model_id!r} is not an embedder")
    for key in ("threshold", "threshold_note", "calibration", "operating_points"):
        entry.pop(key, None)
    entry["calibration"] = _table(calibration)
    table_array = tomlkit.aot()
    for point in points:
        table_array.append(_table(point))
    entry["operating_points"] = table_array
    text = tomlkit.dumps(document)
    text = re.sub(r"\n(\[\[?models\.)", r"\n\n\1", text)  # one blank line before every table, as written by hand
    text = re.sub(r"\n{3,}", "\n\n", text)
    parse_manifest(tomlkit.parse(text).unwrap())
    tmp = path.with_name(path.name + ".new")
    tmp.write_text(text)
    os.replace(tmp, path)
    load_manifest.cache_clear()
