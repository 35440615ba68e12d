"""The guest screen's server: loopback only, nothing cached, preview from memory, state and choices."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from edge.errors import ConsentRefused
from edge.screen import TEXTS, GuestScreen, create_screen_app

NOTICE = {"version": 3, "text": {"en": "Notice", "zh-Hans": "通知"}}


def client(screen: GuestScreen, addr: str = "127.0.0.1"):
    web = create_screen_app(screen).test_client()
    web.environ_base["REMOTE_ADDR"] = addr
    return web


def test_only_loopback_clients_are_served() -> None:
    screen = GuestScreen()
    assert client(screen, "192.168.1.20").get("/state").status_code == 403
    assert client(screen, "192.168.1.20").get("/preview.jpg").status_code == 403
    answer = client(screen, "::1").get("/state")
    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "no-store"


def test_page_texts_cover_both_languages_alike() -> None:
    assert set(TEXTS["en"]) == set(TEXTS["zh-Hans"])
    page = client(GuestScreen()).get("/")
    assert b'id="front-desk"' in page.data


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


def test_consent_accepted_returns_the_notice_version() -> None:
    screen = GuestScreen(consent_timeout_s=10)
    result: list[int] = []
    asking = threading.Thread(target=lambda: result.append(screen.ask_consent(NOTICE)))
    asking.start()
    while screen.state()["screen"] != "consent":
        pass
    assert client(screen).get("/state").json["consent"] == NOTICE
    client(screen).post("/consent")
    asking.join(5)
    assert result == [3]


def test_front_desk_refuses_and_cancels() -> None:
    screen = GuestScreen(consent_timeout_s=10)
    client(screen).post("/front-desk")
    with pytest.raises(ConsentRefused):
        screen.ask_consent(NOTICE)
    assert screen.cancelled()


def test_no_answer_in_time_is_a_refusal() -> None:
    with pytest.raises(ConsentRefused):
        GuestScreen(consent_timeout_s=0.05).ask_consent(NOTICE)


def test_a_failed_run_ends_on_the_front_desk_screen(tmp_path, data_mirror) -> None:
    import cv2

    from edge.screen import run_guest
    from edge.settings import KioskSettings

    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((240, 320, 3), 90, np.uint8))
    screen = GuestScreen()
    settings = KioskSettings(key_file=tmp_path / "kiosk.json")
    run_guest(screen, settings, source=str(blank), id_image=blank, booking_source=str(blank))
    assert screen.finished.is_set()
    assert screen.state()["screen"] == "front-desk"
    assert screen.state()["error"] == "no-booking-qr"


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
    assert TEXTS["en"]["id-camera"]
    assert TEXTS["zh-Hans"]["id-camera"]
