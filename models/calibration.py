"""Writing a calibrated threshold into the model manifest, keeping its comments and layout (tomlkit)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import tomlkit

from models.registry import MANIFEST_PATH, ModelError, load_manifest, parse_manifest


def write_threshold(
    model_id: str,
    threshold: float,
    note: str,
    calibration: Mapping[str, Any],
    *,
    path: Path = MANIFEST_PATH,
) -> None:
    """Set ``threshold``, ``threshold_note`` and the ``calibration`` table of embedder ``model_id``.

    The new text is checked by the manifest parser before it replaces the file
    (written next to it, then renamed), so a failed write leaves it unchanged.
    """
    document = tomlkit.parse(path.read_text())
    models = document.get("models")
    if models is None or model_id not in models:
        raise ModelError(f"model {model_id!r} is not in {path}")
    entry = models[model_id]
    if entry.get("kind") != "embedder":
        raise ModelError(f"model {model_id!r} is not an embedder")
    entry["threshold"] = threshold
    entry["threshold_note"] = note
    table = tomlkit.table()
    for key, value in calibration.items():
        if isinstance(value, Mapping):
            inline = tomlkit.inline_table()
            inline.update(value)
            table[key] = inline
        else:
            table[key] = value
    entry["calibration"] = table
    text = tomlkit.dumps(document)
    text = re.sub(r"\n(\[models\.)", r"\n\n\1", text)  # one blank line before every entry, as written by hand
    text = re.sub(r"\n{3,}", "\n\n", text)
    parse_manifest(tomlkit.parse(text).unwrap())
    tmp = path.with_name(path.name + ".new")
    tmp.write_text(text)
    os.replace(tmp, path)
    load_manifest.cache_clear()
