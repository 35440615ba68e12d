"""Audit entries as the panel shows them: who (a kiosk's name, not its id), what (a sentence, not JSON), about what.

The log itself stays as written (ids and flat details, hash-chained); this only
reads it for people. Actions and detail names without a label here are shown
as they are, so a new action is never hidden.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from service.panel.i18n import gettext
from service.panel.scores import score_and_threshold
from service.storage.tables import AuditEntry

#: Details holding a kiosk's id, shown by the kiosk's name.
_KIOSK_DETAILS = ("kiosk",)
#: Details of a long random id, shown by its first 8 characters.
_ID_DETAILS = ("receipt_id", "receipt_key_id", "session")
#: Details holding a code (a decision, a reason, a state), translated through its ``<detail>:`` label.
_CODED_DETAILS = {"decision": "decision:", "reason_code": "reason:", "from": "kiosk:", "to": "kiosk:"}


@dataclass(frozen=True)
class Described:
    """One audit entry for people: the actor, the action's sentence, and the subject's label and link target."""

    actor: str
    sentence: str
    subject: str
    stay_id: str | None


def describe(entry: AuditEntry, *, kiosk_names: Mapping[str, str], stay_references: Mapping[str, str]) -> Described:
    """``entry`` in words, with kiosks named and stays shown by booking reference."""
    details: dict[str, Any] = json.loads(entry.details or "{}")
    if entry.action == "checkin.verify":
        # The matcher's reason is a code, not a written reason; score and threshold share their decimals.
        details = {("reason_code" if k == "reason" else k): v for k, v in details.items()}
        score, threshold = score_and_threshold(details.get("score"), details.get("threshold"))
        details.update({"score": score, "threshold": threshold} if details.get("score") is not None else {})
    parts = [_detail(key, value, kiosk_names) for key, value in details.items() if value is not None]
    action = gettext("audit:" + entry.action) if ("audit:" + entry.action) in _known() else entry.action
    sentence = action[:1].upper() + action[1:] + (": " + "; ".join(parts) if parts else "") + "."
    subject, stay_id = _subject(entry.subject, kiosk_names, stay_references)
    return Described(actor=actor_name(entry.actor, kiosk_names), sentence=sentence, subject=subject, stay_id=stay_id)


def actor_name(actor: str, kiosk_names: Mapping[str, str]) -> str:
    """``kiosk:<id>`` as "Kiosk <name>", ``staff:<user>`` as the user, ``integration:<name>`` as "PMS <name>"."""
    kind, _, name = actor.partition(":")
    if kind == "kiosk" and name:
        return f"{gettext('Kiosk')} {kiosk_names.get(name, name[:8])}"
    if kind == "staff" and name:
        return name
    if kind == "integration" and name:
        return f"{gettext('PMS')} {name}"
    return actor


def _subject(
    subject: str | None, kiosk_names: Mapping[str, str], stay_references: Mapping[str, str]
) -> tuple[str, str | None]:
    if not subject:
        return "", None
    if subject in stay_references:
        return stay_references[subject], subject
    if subject in kiosk_names:
        return f"{gettext('Kiosk')} {kiosk_names[subject]}", None
    return subject if len(subject) <= 24 else subject[:8], None


def _detail(key: str, value: Any, kiosk_names: Mapping[str, str]) -> str:
    label_key = "detail:" + key
    label = gettext(label_key) if label_key in _known() else key.replace("_", " ")
    if key in _KIOSK_DETAILS and isinstance(value, str):
        shown = kiosk_names.get(value, value[:8])
    elif key in _ID_DETAILS and isinstance(value, str):
        shown = value[:8]
    elif key in _CODED_DETAILS and isinstance(value, str) and (_CODED_DETAILS[key] + value) in _known():
        shown = gettext(_CODED_DETAILS[key] + value)
    elif isinstance(value, bool):
        shown = gettext("yes") if value else gettext("no")
    elif isinstance(value, float):
        shown = f"{value:.4f}".rstrip("0").rstrip(".")
    else:
        shown = str(value)
    return f"{label} {shown}"


def _known() -> Mapping[str, str]:
    from service.panel.messages_zh import LABELS

    return LABELS
