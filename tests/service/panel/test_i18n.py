"""Every string the panel shows has its Simplified Chinese translation."""

from __future__ import annotations

import re

from service.panel.messages_zh import LABELS, ZH
from tests.helpers import ROOT

PANEL = ROOT / "service" / "panel"


def used_strings() -> set[str]:
    found: set[str] = set()
    for template in (PANEL / "templates").rglob("*.html"):
        text = template.read_text()
        found |= set(re.findall(r'_\(\s*"([^"]+)"', text)) | set(re.findall(r"_\(\s*'([^']+)'", text))
        for call in re.findall(r'(?:field|table)\([^,]+,\s*"([^"]*)"(?:,\s*"([^"]*)")?', text):
            found |= {s for s in call if s}
    for module in PANEL.glob("*.py"):
        found |= set(re.findall(r'gettext\(\s*"([^"]+)"', module.read_text()))
    from service.panel.blueprint import TITLES

    found |= set(TITLES.values())
    # Code prefixes ("state:" ~ code) are completed from LABELS.
    return {s for s in found if not s.endswith(":")}


def test_every_string_has_a_translation() -> None:
    strings = used_strings()
    assert len(strings) > 100
    missing = sorted((strings | set(LABELS)) - set(ZH))
    assert missing == []


def test_placeholders_survive_translation() -> None:
    for english, chinese in ZH.items():
        assert sorted(re.findall(r"%\(\w+\)s", english)) == sorted(re.findall(r"%\(\w+\)s", chinese)), english


def test_every_recorded_code_has_a_label_in_both_languages() -> None:
    """Codes the service records and the panel shows (attempt reasons, audit actions) are never left in English."""
    service = ROOT / "service"
    verification = (service / "checkin" / "verification.py").read_text()
    reasons = set(re.findall(r'Verification\(\s*\w+,\s*"\w+",\s*"([a-z-]+)"', verification))
    reasons |= set(re.findall(r'"(no-match|match)"', verification)) | {"staff-override"}
    assert "liveness-failed" in reasons
    actions: set[str] = set()
    for module in service.rglob("*.py"):
        actions |= set(re.findall(r'\baction="([a-z]+\.[a-z.-]+)"', module.read_text()))
        for either in re.findall(
            r'\baction="([a-z]+\.[a-z.-]+)" if [^\n]+ else "([a-z]+\.[a-z.-]+)"', module.read_text()
        ):
            actions |= set(either)
        actions |= {f"stay.{a}" for a in re.findall(r'\("stay\.([a-z-]+)", ', module.read_text())}
    actions |= {"checkin.consent.accepted", "checkin.consent.refused"}
    assert {"stay.checkout", "checkin.verify", "kiosk.suspend", "stay.no-show"} <= actions
    codes = {f"reason:{r}" for r in reasons} | {f"audit:{a}" for a in actions}
    assert sorted(codes - set(LABELS)) == []
    assert sorted(codes - set(ZH)) == []
