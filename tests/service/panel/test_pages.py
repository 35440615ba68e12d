"""The pages: roles, the day's board, a stay and its checkout receipt, kiosks, audit, settings, staff."""

from __future__ import annotations

import base64
import json
import re
from html import unescape

import pyotp
import pytest
from flask.testing import FlaskClient

from models.registry import load_manifest, one_in
from protocol import VerifyKey, receipt_fragment, verify_receipt
from service import property as prop
from service.keyring import staff_secrets
from service.panel.scores import score_and_threshold
from service.storage.tables import AuditEntry, Kiosk, StaffAccount, Stay
from service.web.context import Service
from tests.helpers import ROOT
from tests.helpers.service import Actions, Staff, csrf_token, near, random_template

MANAGER_PAGES = ("/panel/kiosks", "/panel/audit", "/panel/settings")
ADMIN_PAGES = ("/panel/staff", "/panel/webhooks")


def stay_id(svc: Service, reference: str) -> str:
    with svc.db.transaction() as session:
        return session.query(Stay).filter_by(reference=reference).one().id


@pytest.mark.parametrize(
    ("role", "allowed", "refused"),
    [
        ("front_desk", ("/panel/today",), MANAGER_PAGES + ADMIN_PAGES),
        ("manager", ("/panel/today", *MANAGER_PAGES), ADMIN_PAGES),
        ("admin", ("/panel/today", *MANAGER_PAGES, *ADMIN_PAGES), ()),
    ],
)
def test_every_page_checks_the_role(
    client: FlaskClient, staff: Staff, role: str, allowed: tuple[str, ...], refused: tuple[str, ...]
) -> None:
    staff.sign_in_as(role)
    for path in allowed:
        assert client.get(path).status_code == 200, path
    for path in refused:
        answer = client.get(path)
        assert answer.status_code == 403, path
        assert answer.mimetype == "text/html"
        assert "You do not have access to this page" in answer.get_data(as_text=True)
    # Actions by URL are refused too, not only the pages.
    if role == "front_desk":
        token = csrf_token(client.get("/panel/today").get_data(as_text=True))
        assert client.post("/panel/kiosks/code", data={"csrf_token": token, "name": "x"}).status_code == 403
        assert client.post("/panel/staff", data={"csrf_token": token}).status_code == 403


def test_every_view_declares_its_role(app) -> None:  # type: ignore[no-untyped-def]
    open_views = {"panel.login", "panel.logout", "panel.language", "panel.static", "panel.unknown"}
    for endpoint, view in app.view_functions.items():
        if endpoint.startswith("panel.") and endpoint not in open_views:
            assert getattr(view, "required_role", None) in ("front_desk", "manager", "admin"), endpoint


def test_templates_have_no_inline_script_or_style() -> None:
    for template in (ROOT / "service/panel/templates").rglob("*.html"):
        text = template.read_text()
        assert "<script>" not in text, template
        assert "<style" not in text, template
        assert not re.search(r"\s(style|on[a-z]+)=", text), template


def test_unknown_pages_are_html(client: FlaskClient, staff: Staff) -> None:
    staff.sign_in_as("front_desk")
    for path in ("/panel/nothing-here", "/panel/stays/not-a-stay"):
        answer = client.get(path)
        assert answer.status_code == 404
        assert answer.mimetype == "text/html"
        assert "Page not found" in answer.get_data(as_text=True)


def test_today_shows_checkins_with_their_state(client: FlaskClient, staff: Staff, actions: Actions) -> None:
    staff.sign_in_as("front_desk")
    assert "No arrivals today." in client.get("/panel/today").get_data(as_text=True)
    reference = random_template(1)
    accepted, answer = actions.checkin(near(reference, 0.01), reference)
    assert answer.json["decision"] == "accepted"
    rejected, answer = actions.checkin(random_template(3), random_template(4))
    assert answer.json["decision"] == "rejected"
    waiting = actions.reservation("Walk In")
    board = client.get("/panel/today/board").get_data(as_text=True)
    rows = dict(re.findall(r'<tr data-stay="([A-Z0-9]+)">(.*?)</tr>', board, re.S))
    assert "state-accepted" in rows[accepted.reference]
    assert "state-rejected" in rows[rejected.reference]
    assert "no match" in rows[rejected.reference]
    assert "state-not-started" in rows[waiting.reference]
    found = client.get("/panel/today?q=walk").get_data(as_text=True)
    assert waiting.reference in found


def test_stay_page_shows_attempts_and_checkout_gives_a_verifiable_receipt(
    client: FlaskClient, staff: Staff, actions: Actions, svc: Service
) -> None:
    staff.sign_in_as("front_desk")
    reference = random_template(5)
    code, answer = actions.checkin(near(reference, 0.01), reference)
    score = answer.json["score"]
    page = client.get(f"/panel/stays/{stay_id(svc, code.reference)}").get_data(as_text=True)
    shown_score, shown_threshold = score_and_threshold(score, answer.json["threshold"])
    assert f'<td data-label="Score" class="number">{shown_score}</td>' in page
    assert f'<td data-label="Threshold" class="number">{shown_threshold}</td>' in page
    assert float(shown_threshold) == answer.json["threshold"]  # not rounded away from the value compared with
    assert "accepted" in page
    sid = stay_id(svc, code.reference)
    # The checkout button leads to a confirmation page; nothing is deleted until it is confirmed.
    confirm = client.post(f"/panel/stays/{sid}/checkout", data={"csrf_token": csrf_token(page)})
    assert confirm.status_code == 200
    assert 'id="form-confirm"' in confirm.get_data(as_text=True)
    with svc.db.transaction() as session:
        assert session.get(Stay, sid).status == "checked_in"
    receipt_page = client.post(f"/panel/stays/{sid}/checkout", data={"csrf_token": csrf_token(page), "confirm": "yes"})
    assert receipt_page.status_code == 200
    html = receipt_page.get_data(as_text=True)
    assert "<svg" in html
    document = json.loads(unescape(re.search(r'<pre id="receipt-json">(.*?)</pre>', html, re.S).group(1)))
    claims = verify_receipt(document, VerifyKey.from_pem(svc.keyring.receipt_public_keys()[0].to_pem()))
    assert (claims.templates, claims.data_keys) == (1, 1)
    # The QR code opens the receipt page with this receipt in the link's fragment.
    link = unescape(re.search(r'<a href="([^"]+)" id="receipt-link">', html).group(1))
    assert link == f"http://localhost/receipt#{receipt_fragment(document)}"
    assert document["key_id"] in html
    # A second checkout is refused with an HTML page, and nothing changes.
    again = client.post(f"/panel/stays/{sid}/checkout", data={"csrf_token": csrf_token(page), "confirm": "yes"})
    assert again.status_code == 409
    assert again.mimetype == "text/html"
    board = client.get("/panel/today/board").get_data(as_text=True)
    assert "state-checked-out" in board
    # Once the receipt page is left, the stay's page links back to the same receipt, and it downloads as a file.
    stay_page = client.get(f"/panel/stays/{sid}").get_data(as_text=True)
    assert f'href="/panel/stays/{sid}/receipt"' in stay_page
    shown_again = client.get(f"/panel/stays/{sid}/receipt").get_data(as_text=True)
    shown_json = re.search(r'<pre id="receipt-json">(.*?)</pre>', shown_again, re.S).group(1)
    assert json.loads(unescape(shown_json)) == document
    assert f'href="/panel/stays/{sid}/receipt.json"' in shown_again
    download = client.get(f"/panel/stays/{sid}/receipt.json")
    assert download.headers["Content-Disposition"] == f'attachment; filename="lethe-receipt-{code.reference}.json"'
    assert download.json == {"receipt": document}


def test_a_reservation_never_checked_in_is_cancelled_not_checked_out(
    client: FlaskClient, staff: Staff, actions: Actions, svc: Service
) -> None:
    staff.sign_in_as("front_desk")
    code = actions.reservation("Arriving Guest")
    sid = stay_id(svc, code.reference)
    page = client.get(f"/panel/stays/{sid}").get_data(as_text=True)
    assert 'id="form-checkout"' not in page
    assert 'id="form-cancel"' in page
    token = csrf_token(page)
    refused = client.post(f"/panel/stays/{sid}/checkout", data={"csrf_token": token, "confirm": "yes"})
    assert refused.status_code == 409
    assert "cancel the reservation instead" in refused.get_data(as_text=True)
    confirm = client.post(f"/panel/stays/{sid}/cancel", data={"csrf_token": token})
    assert "Cancel the reservation of Arriving Guest?" in confirm.get_data(as_text=True)
    with svc.db.transaction() as session:
        assert session.get(Stay, sid).status == "reserved"
    done = client.post(f"/panel/stays/{sid}/cancel", data={"csrf_token": token, "confirm": "yes"})
    assert done.status_code == 302
    page = client.get(f"/panel/stays/{sid}").get_data(as_text=True)
    assert "Reservation cancelled" in page
    assert 'id="receipt-again"' not in page
    assert client.get(f"/panel/stays/{sid}/receipt").status_code == 404
    with svc.db.transaction() as session:
        assert session.get(Stay, sid).status == "cancelled"
        actions_logged = [e.action for e in session.query(AuditEntry).filter_by(subject=sid)]
    assert "stay.cancel" in actions_logged
    assert "stay.checkout" not in actions_logged


def test_stay_page_shows_re_verifications(client: FlaskClient, staff: Staff, actions: Actions, svc: Service) -> None:
    staff.sign_in_as("front_desk")
    reference = random_template(5)
    code, first = actions.checkin(near(reference, 0.01), reference)
    assert first.json["decision"] == "accepted"
    kiosk = actions.kiosk()
    opened = actions.session(kiosk, code.reference, purpose="reverify")
    again = actions.verify(actions.envelope(kiosk, opened, code, near(reference, 0.01, seed=3), None))
    assert again.json["kind"] == "reverify"
    page = client.get(f"/panel/stays/{stay_id(svc, code.reference)}").get_data(as_text=True)
    kinds = re.findall(r'<td data-label="Kind" class="kind-([a-z-]+)">([^<]+)</td>', page)
    assert kinds == [("check-in", "check-in"), ("reverify", "re-verification (new key card)")]


def test_webhook_endpoints_are_added_with_a_secret_shown_once_and_listed_with_their_status(
    client: FlaskClient, staff: Staff, actions: Actions
) -> None:
    from service import webhooks
    from tests.helpers.receiver import receiver

    staff.sign_in_as("admin")
    page = client.get("/panel/webhooks").get_data(as_text=True)
    assert "No webhook endpoints yet." in page
    refused = client.post("/panel/webhooks", data={"csrf_token": csrf_token(page), "url": "not a url"})
    assert refused.status_code == 400
    with receiver() as hooks:
        added = client.post("/panel/webhooks", data={"csrf_token": csrf_token(page), "url": hooks.url})
        html = added.get_data(as_text=True)
        secret = re.search(r'<p class="code" id="webhook-secret">(whsec_[^<]+)</p>', html).group(1)
        assert secret not in client.get("/panel/webhooks").get_data(as_text=True)  # shown once
        reference = random_template(5)
        actions.checkin(near(reference, 0.01), reference)
        assert webhooks.deliver_due(actions.svc.db, actions.svc.keyring) == 1
        hooks.wait_for(1)
    listed = client.get("/panel/webhooks").get_data(as_text=True)
    assert re.search(r'<td class="last-status">204</td>', listed)
    endpoint_id = re.search(r"/panel/webhooks/(\d+)/remove", listed).group(1)
    client.post(f"/panel/webhooks/{endpoint_id}/remove", data={"csrf_token": csrf_token(listed)})
    assert "No webhook endpoints yet." in client.get("/panel/webhooks").get_data(as_text=True)


def test_kiosk_enrolment_code_is_shown_once(client: FlaskClient, staff: Staff) -> None:
    staff.sign_in_as("manager")
    page = client.get("/panel/kiosks").get_data(as_text=True)
    assert "No kiosk is registered yet" in page
    answer = client.post("/panel/kiosks/code", data={"csrf_token": csrf_token(page), "name": "Lobby 2"})
    html = answer.get_data(as_text=True)
    code = re.search(r'id="enrolment-code">([A-Z2-7-]+)<', html).group(1)
    assert len(code) == 19
    later = client.get("/panel/kiosks").get_data(as_text=True)
    assert code not in later
    assert "Lobby 2" in later


def test_audit_search_and_chain_verification(client: FlaskClient, staff: Staff, actions: Actions) -> None:
    staff.sign_in_as("manager")
    code = actions.reservation("Audit Guest")
    page = client.get(f"/panel/audit?stay={code.reference}").get_data(as_text=True)
    assert "stay.create" in page
    assert "staff.login" not in page
    assert "staff.login" in client.get("/panel/audit?action=staff.").get_data(as_text=True)
    assert "No entries match." in client.get("/panel/audit?actor=nobody-at-all").get_data(as_text=True)
    report = client.post("/panel/audit/verify", data={"csrf_token": csrf_token(page)}).get_data(as_text=True)
    assert "The chain is intact" in report
    # The list stays under the report: the latest entries, or the search the page was showing.
    assert "No entries match." not in report
    assert "stay.create" in report
    kept = client.post(f"/panel/audit/verify?stay={code.reference}", data={"csrf_token": csrf_token(page)})
    assert "The chain is intact" in kept.get_data(as_text=True)
    assert "staff.login" not in kept.get_data(as_text=True)


def test_audit_names_kiosks_and_says_what_happened(
    client: FlaskClient, staff: Staff, actions: Actions, svc: Service
) -> None:
    staff.sign_in_as("manager")
    code, _answer = actions.checkin(random_template(7), random_template(8))
    page = client.get(f"/panel/audit?stay={code.reference}").get_data(as_text=True)
    rows = re.findall(r"<tr>(.*?)</tr>", page, re.S)
    verify = next(unescape(r) for r in rows if "checkin.verify" in r)
    assert "Kiosk Test kiosk" in verify
    assert "Face compared: decision rejected; result no match; score 0." in verify
    with svc.db.transaction() as session:
        kiosk_id = session.query(Kiosk).one().id
    assert kiosk_id not in page
    assert "{" not in re.sub(r"<[^>]+>", "", "".join(rows))  # no JSON
    assert f'<a href="/panel/stays/{stay_id(svc, code.reference)}"><code>{code.reference}</code></a>' in page
    client.post("/panel/language", data={"csrf_token": csrf_token(page), "language": "zh-Hans"})
    zh = client.get(f"/panel/audit?stay={code.reference}").get_data(as_text=True)
    assert "人脸比对：结果 未通过" in zh or "人脸比对: 结果 未通过" in zh


def test_threshold_shows_the_decimals_the_comparison_needs() -> None:
    assert score_and_threshold(0.952, 0.9256) == ("0.9520", "0.9256")
    assert score_and_threshold(0.95, 0.93) == ("0.950", "0.930")
    assert score_and_threshold(0.92561, 0.9256) == ("0.92561", "0.92560")
    assert score_and_threshold(0.92559, 0.9256) == ("0.92559", "0.92560")
    assert score_and_threshold(None, 0.9256) == ("—", "0.9256")
    assert score_and_threshold(0.5, None) == ("0.500", "—")


def test_settings_change_time_zone_and_consent_version(client: FlaskClient, staff: Staff, svc: Service) -> None:
    staff.sign_in_as("manager")
    page = client.get("/panel/settings").get_data(as_text=True)
    token = csrf_token(page)
    bad = client.post(
        "/panel/settings",
        data={"csrf_token": token, "section": "general", "general-name": "Hotel", "general-timezone": "Mars/Base"},
    )
    assert bad.status_code == 400
    assert "unknown time zone" in bad.get_data(as_text=True)
    good = client.post(
        "/panel/settings",
        data={"csrf_token": token, "section": "general", "general-name": "Hotel", "general-timezone": "Asia/Shanghai"},
    )
    assert good.status_code == 302
    consent = client.post(
        "/panel/settings",
        data={"csrf_token": token, "section": "consent", "consent-text_en": "New words.", "consent-text_zh": "新的。"},
    )
    assert consent.status_code == 302
    with svc.db.transaction() as session:
        assert prop.load(session, prop.General).timezone == "Asia/Shanghai"
        notice = prop.load(session, prop.ConsentNotice)
    assert notice.version == 2
    assert notice.text["en"] == "New words."


def test_settings_choose_the_operating_point_and_say_what_it_means(
    client: FlaskClient, staff: Staff, svc: Service
) -> None:
    staff.sign_in_as("manager")
    page = client.get("/panel/settings").get_data(as_text=True)
    point = load_manifest().get("dlib-resnet-v1").operating_point(1e-4)
    assert "Face matching" in page
    assert f"dlib-resnet-v1 (threshold {point.threshold})" in page
    expected = f"about one impostor in {one_in(point.expected_fmr)} is accepted"
    assert expected in page
    uncalibrated = [
        e.name for e in load_manifest().embedders if not any(p.target_fmr == 1e-4 for p in e.operating_points)
    ]
    for name in uncalibrated:  # named under 1e-4 only, as refused
        assert page.count(f"{name}: not calibrated for this rate") == 1
    assert re.search(r'<input checked [^>]*value="0\.001"', page)
    token = csrf_token(page)
    form = {"csrf_token": token, "section": "matching"}
    bad = client.post("/panel/settings", data=form | {"matching-target_fmr": "0.5"})
    assert bad.status_code == 400
    good = client.post("/panel/settings", data=form | {"matching-target_fmr": "0.0001"})
    assert good.status_code == 302
    with svc.db.transaction() as session:
        assert prop.load(session, prop.Matching).target_fmr == 1e-4
    assert re.search(r'<input checked [^>]*value="0\.0001"', client.get("/panel/settings").get_data(as_text=True))


def test_admin_creates_disables_and_resets_staff(client: FlaskClient, staff: Staff, svc: Service) -> None:
    staff.sign_in_as("admin")
    token = csrf_token(client.get("/panel/staff").get_data(as_text=True))
    created = client.post(
        "/panel/staff",
        data={
            "csrf_token": token,
            "username": "mei",
            "display_name": "Mei",
            "role": "manager",
            "password": "a long enough password",
        },
    ).get_data(as_text=True)
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', created).group(1)
    weak = client.post(
        "/panel/staff",
        data={"csrf_token": token, "username": "lee", "display_name": "Lee", "role": "front_desk", "password": "short"},
    )
    assert weak.status_code == 400
    with svc.db.transaction() as session:
        mei = session.query(StaffAccount).filter_by(username="mei").one()
        assert secret not in mei.totp_secret
        assert staff_secrets.open_secret(svc.keyring, mei.id, mei.totp_secret) == secret
        mei_id = mei.id
    reset = client.post(f"/panel/staff/{mei_id}/reset-2fa", data={"csrf_token": token}).get_data(as_text=True)
    new_secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', reset).group(1)
    assert new_secret != secret
    assert client.post(f"/panel/staff/{mei_id}/disable", data={"csrf_token": token}).status_code == 302
    with svc.db.transaction() as session:
        assert session.get(StaffAccount, mei_id).disabled_at is not None
    assert pyotp.TOTP(new_secret).now()


def test_chinese_pages(client: FlaskClient, staff: Staff) -> None:
    staff.sign_in_as("admin")
    page = client.get("/panel/today").get_data(as_text=True)
    client.post("/panel/language", data={"csrf_token": csrf_token(page), "language": "zh-Hans", "next": "/panel/staff"})
    chinese = client.get("/panel/today").get_data(as_text=True)
    assert 'lang="zh-Hans"' in chinese
    assert "今日" in chinese
    assert "今日抵达" not in page
    login = client.get("/panel/login", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert "登录" in login.get_data(as_text=True)


def test_settings_give_the_kiosk_screen_its_accent_colour_and_logo(
    client: FlaskClient, staff: Staff, svc: Service
) -> None:
    from io import BytesIO

    staff.sign_in_as("manager")
    token = csrf_token(client.get("/panel/settings").get_data(as_text=True))
    general = {"csrf_token": token, "section": "general", "general-name": "Hotel Lethe", "general-timezone": "UTC"}
    logo = b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><rect width="10" height="10"/></svg>'
    saved = client.post(
        "/panel/settings",
        data=general
        | {"general-accent_colour": "#8a1538", "general-logo": (BytesIO(logo), "logo.svg", "image/svg+xml")},
        content_type="multipart/form-data",
    )
    assert saved.status_code == 302
    with svc.db.transaction() as session:
        stored = prop.load(session, prop.General)
    assert stored.accent_colour == "#8a1538"
    assert stored.logo is not None
    assert (stored.logo.media_type, base64.b64decode(stored.logo.data)) == ("image/svg+xml", logo)
    # Saving again without a new file keeps the logo; a bad colour or file type is refused with a reason.
    assert client.post("/panel/settings", data=general | {"general-accent_colour": "#000000"}).status_code == 302
    with svc.db.transaction() as session:
        assert prop.load(session, prop.General).logo == stored.logo
    assert client.post("/panel/settings", data=general | {"general-accent_colour": "red"}).status_code == 400
    wrong = client.post(
        "/panel/settings",
        data=general
        | {"general-accent_colour": "#000000", "general-logo": (BytesIO(b"MZ"), "x.exe", "application/x-msdownload")},
        content_type="multipart/form-data",
    )
    assert wrong.status_code == 400
    removed = client.post(
        "/panel/settings", data=general | {"general-accent_colour": "#000000", "general-remove_logo": "y"}
    )
    assert removed.status_code == 302
    with svc.db.transaction() as session:
        assert prop.load(session, prop.General).logo is None


def test_the_kiosks_page_shows_each_kiosks_last_report(
    client: FlaskClient, staff: Staff, actions: Actions, svc: Service
) -> None:
    from service.checkin.kiosks import record_state
    from service.storage.tables import Kiosk

    kiosk = actions.kiosk()
    with svc.db.transaction() as session:
        record_state(
            session.get(Kiosk, str(kiosk.kiosk_id)), state="out-of-order", error="source-unavailable", now=svc.now()
        )
    staff.sign_in_as("manager")
    page = client.get("/panel/kiosks").get_data(as_text=True)
    row = re.search(r'<tr data-kiosk="Test kiosk">.*?</tr>', page, re.S).group(0)
    assert "out of order" in row
    assert "source-unavailable" in row
