"""Keys and signatures the service reads from outside have one spelling: the API and the receipt page refuse others."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from protocol import SigningKey, receipt_fragment
from tests.helpers.service import Actions, assert_problem
from tests.helpers.spellings import spellings


def register(actions: Actions, public_key: str) -> Any:
    return actions.client.post("/api/v1/kiosks", json={"code": actions.enrolment_code(), "public_key": public_key})


def test_a_kiosk_key_is_registered_in_its_canonical_spelling_only(actions: Actions) -> None:
    """Regression: ``b64decode(validate=True)`` ignores the unused bits of the last character, so 4 spellings of
    one 32-byte key registered."""
    raw = SigningKey.generate().public_key().raw
    canonical = base64.b64encode(raw).decode()
    last = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".index(canonical[-2])
    for bits in range(1, 4):
        other = canonical[:-2] + "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[last ^ bits] + "="
        assert base64.b64decode(other, validate=True) == raw
        assert_problem(register(actions, other), 400, "bad-request")
    assert register(actions, canonical).status_code == 201


def test_the_receipt_page_refuses_every_other_spelling_of_a_signature(
    actions: Actions, browser: WebDriver, tmp_path: Path
) -> None:
    """The page's own decoder is as strict as the service's: atob() too ignores the last character's unused bits."""
    page = tmp_path / "receipt.html"
    page.write_bytes(actions.client.get("/receipt").get_data())
    code = actions.reservation()
    receipt = actions.client.post(f"/pms/v1/reservations/{code.reference}/checkout", headers=actions.pms).json[
        "receipt"
    ]
    fragment = receipt_fragment(receipt)
    head, signature = fragment.rsplit(".", 1)

    def verdict(text: str) -> str:
        browser.get("about:blank")
        browser.get(f"{page.as_uri()}#{text}")
        WebDriverWait(browser, 60, poll_frequency=0.05).until(
            lambda d: d.execute_script("return document.body.dataset.status") not in (None, "checking")
        )
        return str(browser.execute_script("return document.body.dataset.status"))

    assert verdict(fragment) == "valid"
    others = [s for s in spellings(signature) if s.strip() == s]
    assert len(others) >= 15
    assert {verdict(f"{head}.{other}") for other in others} == {"invalid"}
