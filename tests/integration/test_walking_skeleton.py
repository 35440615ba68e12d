"""End to end: the real service process, the real kiosk command, the Hamilton clip."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import requests

from tests.helpers.deployment import Deployment

MISC = "faces/face_recognition/misc"


def test_kiosk_identity_is_private(deployment: Deployment) -> None:
    identity = deployment.instance / "kiosk" / "kiosk.json"
    assert stat.S_IMODE(identity.stat().st_mode) == 0o600
    keys = deployment.instance / "keys"
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in keys.iterdir())


def test_guest_accepted_impostor_rejected_then_checkout_with_receipt(
    deployment: Deployment, testdata: Path, tmp_path: Path
) -> None:
    video = testdata / "video/short_hamilton_clip.mp4"
    reservation = deployment.reservation()
    booking = reservation["booking_code"]

    status, guest = deployment.kiosk(video, testdata / MISC / "lin-manuel-miranda.png", booking)
    assert status == 0, guest
    assert guest["decision"] == "accepted"
    assert guest["score"] >= guest["threshold"]
    assert guest["frames_fused"] >= 3
    assert guest["passive_score"] >= 0.5
    assert (guest["challenge"], guest["challenge_passed"]) == ("none", True)

    status, impostor = deployment.kiosk(video, testdata / MISC / "alex-lacamoire.png", booking)
    assert status == 1, impostor
    assert impostor["decision"] == "rejected"
    assert impostor["reason"] == "no-match"
    assert impostor["score"] < impostor["threshold"]

    checkout = requests.post(
        f"{deployment.url}/pms/v1/reservations/{reservation['reference']}/checkout",
        headers={"Authorization": f"Bearer {deployment.api_key}"},
        timeout=10,
    )
    assert checkout.status_code == 200
    receipt = tmp_path / "receipt.json"
    receipt.write_text(json.dumps(checkout.json()))
    public_key = tmp_path / "receipt.pem"
    public_key.write_text(
        requests.get(f"{deployment.url}/api/v1/keys", timeout=10).json()["receipt"][0]["public_key_pem"]
    )
    verified = deployment.lethe("receipt", "verify", str(receipt), "--public-key", str(public_key))
    assert "VALID" in verified.stdout
    assert "1 template(s) and 1 data key(s) deleted" in verified.stdout

    document = json.loads(receipt.read_text())
    document["receipt"]["claims"]["deleted"]["templates"] = 2
    receipt.write_text(json.dumps(document))
    refused = deployment.lethe("receipt", "verify", str(receipt), "--public-key", str(public_key), check=False)
    assert refused.returncode == 1
    assert "INVALID" in refused.stderr


def test_id_image_with_no_face(deployment: Deployment, testdata: Path, tmp_path: Path) -> None:
    import cv2
    import numpy as np

    blank = tmp_path / "blank-id.png"
    cv2.imwrite(str(blank), np.full((400, 300, 3), 200, np.uint8))
    booking = deployment.reservation()["booking_code"]
    status, answer = deployment.kiosk(testdata / "video/short_hamilton_clip.mp4", blank, booking)
    assert status == 3
    assert answer["error"]["code"] == "no-face-in-id-image"
    assert answer["error"]["guidance"]


def test_wrong_booking_codes(deployment: Deployment, testdata: Path) -> None:
    video, portrait = testdata / "video/short_hamilton_clip.mp4", testdata / MISC / "lin-manuel-miranda.png"
    status, answer = deployment.kiosk(video, portrait, "not-a-booking-code")
    assert (status, answer["error"]["code"]) == (3, "invalid-booking-code")
    status, answer = deployment.kiosk(video, portrait, "LETHE2.ZZZZ9999.AAAAAAAAAAAAAAAAAAAAAAAAAA")
    assert (status, answer["error"]["code"]) == (4, "unknown-booking")
    real = deployment.reservation()["booking_code"]
    forged = real[:-4] + ("AAAA" if not real.endswith("AAAA") else "BBBB")
    status, answer = deployment.kiosk(video, portrait, forged)
    assert (status, answer["error"]["code"]) == (4, "booking-secret-mismatch")


def test_service_health(deployment: Deployment) -> None:
    assert requests.get(f"{deployment.url}/readyz", timeout=5).json() == {"status": "ready"}
