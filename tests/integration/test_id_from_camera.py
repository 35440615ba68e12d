"""End to end: the ID document held up to the camera instead of an ID image file (``--id-source``).

The "camera" showing the card is one frame composed from a real portrait
(tests/edge/idcard.py), saved in the test's temporary folder because the kiosk
is a separate process; the live capture is the Hamilton clip, as in the
walking-skeleton test. A live face shown instead of the document (recorded
video as the ID source) is refused at the ID stage, before anything is sealed.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest

from edge.sources import read_image
from tests.helpers.deployment import Deployment
from tests.helpers.idcard import card_frame

MISC = "faces/face_recognition/misc"


def held_card(testdata: Path, tmp_path: Path, portrait: str) -> Path:
    path = tmp_path / f"camera-{portrait}.png"
    cv2.imwrite(str(path), card_frame([read_image(testdata / MISC / portrait)]))
    return path


def kiosk(
    deployment: Deployment, video: Path, id_source: Path, booking: str, env: dict[str, str] | None = None
) -> tuple[int, dict]:
    done = deployment.lethe(
        "kiosk",
        "--consent-accepted",
        "--source",
        str(video),
        "--id-source",
        str(id_source),
        "--booking",
        booking,
        "--json",
        check=False,
        env=env,
    )
    lines = done.stdout.strip().splitlines()
    assert lines, done.stderr
    return done.returncode, json.loads(lines[-1])


def test_id_document_from_the_camera_checks_the_guest_in(
    deployment: Deployment, testdata: Path, tmp_path: Path
) -> None:
    video = testdata / "video/short_hamilton_clip.mp4"
    booking = deployment.reservation()["booking_code"]

    status, guest = kiosk(deployment, video, held_card(testdata, tmp_path, "lin-manuel-miranda.png"), booking)
    assert status == 0, guest
    assert (guest["decision"], guest["reason"]) == ("accepted", "match")
    assert guest["score"] >= guest["threshold"]

    status, impostor = kiosk(deployment, video, held_card(testdata, tmp_path, "alex-lacamoire.png"), booking)
    assert status == 1, impostor
    assert (impostor["decision"], impostor["reason"]) == ("rejected", "no-match")


@pytest.mark.parametrize("shown", ["live_vs_replay_a/live.mov", "short_hamilton_clip.mp4"])
def test_a_live_face_as_the_id_document_is_refused(deployment: Deployment, testdata: Path, shown: str) -> None:
    reservation = deployment.reservation()
    video = testdata / "video/short_hamilton_clip.mp4"
    # Three seconds of each video at the ID stage: a face is in view, never inside a document.
    status, answer = kiosk(
        deployment, video, testdata / "video" / shown, reservation["booking_code"], {"LETHE_KIOSK_MAX_SECONDS": "3"}
    )
    assert status == 3, answer  # a kiosk-side error, as documented
    assert answer["error"]["code"] == "no-id-document"
    assert "Hold your ID document up to the camera" in answer["error"]["detail"]
    assert answer["error"]["guidance"]
    state = deployment.stay_state(reservation["reference"])
    assert (state.status, state.templates, state.attempts) == ("reserved", 0, 0), state  # nothing templated or sent


def test_id_options_are_exclusive(deployment: Deployment, testdata: Path) -> None:
    portrait = str(testdata / MISC / "lin-manuel-miranda.png")
    both = deployment.lethe(
        "kiosk", "--source", "0", "--id-image", portrait, "--id-from-camera", "--booking", "x", check=False
    )
    assert both.returncode == 2
    assert "--id-image, or read the ID from the camera" in both.stderr
    # The guest's screen checks guests in: it needs a way to the ID (the headless run without one re-verifies).
    neither = deployment.lethe("kiosk", "screen", "--source", "0", check=False)
    assert neither.returncode == 2
    assert "missing --id-image" in neither.stderr
    reverify = deployment.lethe("kiosk", "--source", "0", "--reverify", "--id-image", portrait, check=False)
    assert reverify.returncode == 2
    assert "--reverify compares with the stay's stored template" in reverify.stderr
