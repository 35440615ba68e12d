"""English and Simplified Chinese for the panel: a small message catalogue, keyed by the English text.

Why not Flask-Babel: the panel has a few hundred short strings in two languages,
all in this package. A dictionary needs no extraction or compile step, cannot
fall out of date with a stale ``.mo`` file, and ``tests/panel/test_i18n.py``
checks that every string the templates and views use has its translation.
"""

from __future__ import annotations

from typing import Any

from flask import g, request, session

from service.panel.messages_zh import LABELS, ZH

LANGUAGES = {"en": "English", "zh-Hans": "简体中文"}
CATALOGUES: dict[str, dict[str, str]] = {"en": LABELS, "zh-Hans": ZH}


def current_language() -> str:
    staff = g.get("staff")
    if staff is not None and staff.language in LANGUAGES:
        language: str = staff.language
        return language
    chosen = session.get("lang")
    if isinstance(chosen, str) and chosen in LANGUAGES:
        return chosen
    best = request.accept_languages.best_match(["en", "zh-Hans", "zh-CN", "zh"], default="en")
    return "zh-Hans" if best.startswith("zh") else "en"


def gettext(text: str, **values: Any) -> str:
    """``text`` in the current language, with ``%(name)s`` placeholders filled from ``values``."""
    translated = CATALOGUES[current_language()].get(text) or LABELS.get(text) or _unknown_code(text)
    return translated % values if values else translated


def _unknown_code(text: str) -> str:
    """A code with no label (``reason:new-thing``) reads as its last part; plain text as itself."""
    prefix, _, code = text.partition(":")
    return code.replace("-", " ") if code and prefix.isalpha() and " " not in prefix else text
