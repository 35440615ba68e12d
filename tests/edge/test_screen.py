"""The guest screen's server and state: loopback only, nothing cached, pushed state, questions, backoff, colours."""

from __future__ import annotations

import json
import random
import re
import string
import threading

import numpy as np
import pytest

from edge.errors import ConsentRefused
from edge.screen import TEXTS, Backoff, GuestScreen, create_screen_app
from edge.screen.texts import GUIDANCE_KEYS
from edge.screen.theme import BACKGROUND, contrast, theme

NOTICE = {"version": 3, "text": {"en": "Notice", "zh-Hans": "通知"}}


def client(screen: GuestScreen, addr: str = "127.0.0.1"):
    web = create_screen_app(screen).test_client()
    web.environ_base["REMOTE_ADDR"] = addr
    return web


def wait_for(screen: GuestScreen, name: str) -> None:
    seen = -1
    while (change := screen.wait_for_change(seen, 5.0)) is not None:
        seen, state = change
        if state["screen"] == name:
            return
    raise AssertionError(f"no {name!r} screen")


def test_only_loopback_clients_are_served() -> None:
    screen = GuestScreen()
    assert client(screen, "192.168.1.20").get("/state").status_code == 403
    assert client(screen, "192.168.1.20").get("/preview.jpg").status_code == 403
    assert client(screen, "192.168.1.20").post("/front-desk").status_code == 403
    answer = client(screen, "::1").get("/state")
    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "no-store"
    assert "default-src 'self'" in answer.headers["Content-Security-Policy"]


def test_page_texts_cover_both_languages_alike() -> None:
    assert set(TEXTS["en"]) == set(TEXTS["zh-Hans"])
    for key, text in TEXTS["en"].items():
        fields = set(re.findall(r"\{(\w+)\}", text))
        assert fields == set(re.findall(r"\{(\w+)\}", TEXTS["zh-Hans"][key])), key
        translated = key == "switch-language" or not set(TEXTS["zh-Hans"][key]) <= set(string.ascii_letters + " ")
        assert TEXTS["zh-Hans"][key], key
        assert translated, key
    assert set(GUIDANCE_KEYS.values()) <= set(TEXTS["en"])
    page = client(GuestScreen()).get("/")
    assert b'id="front-desk"' in page.data
    assert b"http" not in page.data  # nothing from outside the kiosk
    for name in ("screen.js", "screen.css"):
        with client(GuestScreen()).get(f"/static/{name}") as asset:
            assert asset.status_code == 200
            assert b"http:" not in asset.data
            assert b"https:" not in asset.data


def test_heading_and_detail_never_say_the_same_sentence() -> None:
    for texts in TEXTS.values():
        for key, text in texts.items():
            detail = texts.get(f"{key}-detail")
            assert detail is None or detail != text, key


def test_preview_is_served_from_memory_and_dropped_at_the_end() -> None:
    screen = GuestScreen()
    web = client(screen)
    assert web.get("/preview.jpg").status_code == 204
    screen.show_frame(np.full((480, 640, 3), 120, np.uint8))
    image = web.get("/preview.jpg")
    assert image.status_code == 200
    assert image.mimetype == "image/jpeg"
    assert image.data[:2] == b"\xff\xd8"
    screen.finish("accepted")
    assert web.get("/preview.jpg").status_code == 204
    assert web.get("/state").json["screen"] == "accepted"


def test_state_changes_are_pushed_as_they_happen() -> None:
    screen = GuestScreen()
    events = client(screen).get("/events", buffered=False)
    assert events.mimetype == "text/event-stream"
    chunks = iter(events.response)
    assert next(chunks).startswith(b"retry:")
    assert json.loads(next(chunks).removeprefix(b"data: "))["screen"] == "starting"
    screen.step("scan", hotel="Hotel Lethe")
    pushed = json.loads(next(chunks).removeprefix(b"data: "))
    assert (pushed["screen"], pushed["hotel"]) == ("scan", "Hotel Lethe")
    screen.close()
    assert list(chunks) == []
    events.close()


def test_preview_stream_sends_each_new_frame_once() -> None:
    screen = GuestScreen()
    screen.show_frame(np.full((480, 640, 3), 90, np.uint8))
    stream = client(screen).get("/preview.mjpg", buffered=False)  # the test client reads the first part at once
    assert stream.mimetype == "multipart/x-mixed-replace"
    parts = iter(stream.response)
    header = b"\r\n--frame\r\nContent-Type: image/jpeg\r\n\r\n"
    assert next(parts) == header
    part = next(parts)
    assert part.startswith(b"\xff\xd8")
    assert part.endswith(header)  # the next part begins at once: a browser shows a part when the next one starts
    screen.close()
    stream.close()


def test_consent_accepted_returns_the_notice_version() -> None:
    screen = GuestScreen(consent_timeout_s=10)
    result: list[int] = []
    asking = threading.Thread(target=lambda: result.append(screen.ask_consent(NOTICE)))
    asking.start()
    wait_for(screen, "consent")
    state = client(screen).get("/state").json
    assert (state["consent"], state["options"]) == (NOTICE, ["accept"])
    assert client(screen).post("/answer/check-out").status_code == 409  # not offered on this screen
    assert client(screen).post("/answer/accept").json == {"ok": True}
    asking.join(5)
    assert result == [3]
    assert client(screen).post("/answer/accept").status_code == 409  # the question is closed


def test_front_desk_refuses_and_cancels() -> None:
    screen = GuestScreen(consent_timeout_s=10)
    client(screen).post("/front-desk")
    with pytest.raises(ConsentRefused):
        screen.ask_consent(NOTICE)
    assert screen.cancelled()


def test_no_answer_in_time_is_a_refusal() -> None:
    with pytest.raises(ConsentRefused):
        GuestScreen(consent_timeout_s=0.05).ask_consent(NOTICE)


def test_the_mode_is_chosen_on_the_attract_screen_only() -> None:
    screen = GuestScreen()
    web = client(screen)
    assert web.post("/mode/check-out").status_code == 409  # still starting
    screen.step("scan")
    assert web.post("/mode/check-out").json == {"ok": True}
    assert screen.mode == "check-out"
    assert web.post("/mode/anything").status_code == 409
    screen.step("checkout-confirm")
    assert web.post("/mode/check-in").status_code == 409
    assert screen.mode == "check-out"


def test_capture_guidance_becomes_one_instruction_key() -> None:
    from edge.challenge import INSTRUCTIONS
    from edge.quality import GUIDANCE

    screen = GuestScreen()
    screen.step("face", challenge="blink")
    screen.guidance(GUIDANCE["face-too-small"])
    assert screen.state()["guidance"] == "face-too-small"
    screen.guidance(INSTRUCTIONS["blink"])
    assert screen.state()["guidance"] == "do-blink"
    screen.guidance("")  # good frames, nothing to ask: the kiosk is deciding
    assert screen.state()["guidance"] == "steady"
    screen.step("sending")
    assert screen.state()["guidance"] is None


def test_id_document_guidance_has_its_own_texts_in_both_languages() -> None:
    from edge.idrecord import ID_GUIDANCE

    screen = GuestScreen()
    screen.step("id", id_source="camera")
    state = client(screen).get("/state").json
    assert (state["screen"], state["id_source"]) == ("id", "camera")
    for text in ID_GUIDANCE.values():
        screen.guidance(text)
        key = screen.state()["guidance"]
        assert key.startswith("id-")  # too-dark and low-contrast share one text, so one key
        assert TEXTS["en"][key] == text  # the screen says what the headless kiosk prints
        assert TEXTS["zh-Hans"][key]


def test_backoff_doubles_to_its_bound_with_bounded_jitter() -> None:
    exact = Backoff(2.0, 30.0, jitter=0)
    assert [exact.next() for _ in range(6)] == [2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert exact.attempts == 6
    jittered = [Backoff(2.0, 30.0, jitter=0.2, rng=random.Random(7)) for _ in range(2)]
    first, second = ([b.next() for _ in range(6)] for b in jittered)
    assert first == second  # seeded: the same delays every run
    for delay, bound in zip(first, [2.0, 4.0, 8.0, 16.0, 30.0, 30.0], strict=True):
        assert 0.8 * bound <= delay <= bound
    for _ in range(5000):  # a kiosk out of order for days: the delay stays at its bound
        assert exact.next() == 30.0


@pytest.mark.parametrize("accent", ["#0f5f5a", "#ffd400", "#ffffff", "#000000", "#7fb3ff", "#e30613", "nonsense", None])
def test_any_accent_colour_gives_readable_buttons(accent: str | None) -> None:
    colours = theme(accent)
    assert contrast(colours["accent"], BACKGROUND) >= 3.0  # the button and the oval stand out
    assert contrast(colours["accent"], colours["on-accent"]) >= 4.5  # the button's text reads


def test_a_failed_run_ends_on_the_front_desk_screen(tmp_path, data_mirror) -> None:
    """A kiosk that cannot work (here: no identity) ends, when told to stop retrying, out of order, with its status."""
    import cv2

    from edge.errors import ExitStatus
    from edge.screen import run_guest
    from edge.settings import KioskSettings

    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((240, 320, 3), 90, np.uint8))
    screen = GuestScreen()
    settings = KioskSettings(key_file=tmp_path / "kiosk.json")
    status = run_guest(screen, settings, source=str(blank), id_image=blank, booking_source=str(blank), retry_for_s=0)
    assert status == ExitStatus.KIOSK_ERROR
    assert screen.finished.is_set()
    assert screen.state()["screen"] == "out-of-order"
    assert screen.state()["error"] == "kiosk-not-registered"


def _run(screen: GuestScreen):  # type: ignore[no-untyped-def]
    from edge.screen.guest import GuestRun

    return GuestRun(screen, None, None, None, None)  # type: ignore[arg-type]


def test_after_the_qr_the_guest_chooses_check_in_or_a_new_key_card() -> None:
    from edge.screen.guest import _choose_flow

    screen = GuestScreen(consent_timeout_s=30)
    chosen: list[str] = []
    asking = threading.Thread(target=lambda: chosen.append(_choose_flow(_run(screen))))
    asking.start()
    wait_for(screen, "choose")
    assert screen.state()["options"] == ["check-in", "new-card"]
    assert not screen.answer("accept")  # not offered here
    assert screen.answer("new-card")
    asking.join(10)
    assert chosen == ["new-card"]
    # Check-out mode asks nothing; no answer in time sends the guest to the desk.
    assert _choose_flow(_run(GuestScreen(mode="check-out"))) == "check-out"
    with pytest.raises(ConsentRefused):
        _choose_flow(_run(GuestScreen(consent_timeout_s=0.05)))
    assert all(key in TEXTS[lang] for lang in TEXTS for key in ("choose", "choose-new-card-button", "reverified"))


def test_the_page_polls_are_not_logged_but_failures_are(caplog: pytest.LogCaptureFixture) -> None:
    """The page asks for /state every few hundred ms: a kiosk's journal must not fill with those lines."""
    import logging

    import requests

    from edge.screen import serve

    server = serve(create_screen_app(GuestScreen()), 0)
    try:
        base = f"http://127.0.0.1:{server.server_port}"
        with caplog.at_level(logging.INFO, logger="werkzeug"):
            for _ in range(5):
                assert requests.get(f"{base}/state", timeout=10).status_code == 200
            assert [r for r in caplog.records if r.name == "werkzeug"] == []
            assert requests.get(f"{base}/no-such-page", timeout=10).status_code == 404
        assert [r.getMessage() for r in caplog.records if r.name == "werkzeug" and "404" in r.getMessage()]
    finally:
        server.shutdown()
