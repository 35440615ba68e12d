"""The returning guest (issue 19): re-verification at the kiosk with the booking code and a face, no ID.

The real service process and the real ``lethe kiosk`` command: the guest checks
in from the recorded clip with the ID photo, then comes back with the booking
code alone (``lethe kiosk`` without an ID source) and is accepted against the
stay's stored template; a stranger with the same booking code is rejected (at an
ONNX kiosk: the two backends make the same model's templates); a booking not yet
checked in is told so before any capture, and after checkout the re-verification
is refused.
"""

from __future__ import annotations

from pathlib import Path

from tests.helpers.deployment import Deployment

MISC = "faces/face_recognition/misc"
CLIP = "video/short_hamilton_clip.mp4"
STRANGER = "video/live_vs_replay_a/live.mov"


def test_a_checked_in_guest_reverifies_with_the_booking_code_alone(deployment: Deployment, testdata: Path) -> None:
    reservation = deployment.reservation()
    booking, reference = reservation["booking_code"], reservation["reference"]

    status, first = deployment.kiosk(testdata / CLIP, testdata / MISC / "lin-manuel-miranda.png", booking)
    assert status == 0, first
    assert (status, first["decision"], first["kind"]) == (0, "accepted", "check-in"), first

    status, again = deployment.kiosk(testdata / CLIP, None, booking)
    assert (status, again["decision"], again["reason"], again["kind"]) == (0, "accepted", "match", "reverify"), again
    assert again["score"] >= again["threshold"]

    status, stranger = deployment.kiosk(testdata / STRANGER, None, booking, env={"LETHE_KIOSK_BACKEND": "onnx"})
    assert (status, stranger["decision"], stranger["reason"], stranger["kind"]) == (
        1,
        "rejected",
        "no-match",
        "reverify",
    )
    state = deployment.stay_state(reference)
    assert (state.status, state.attempts, state.templates) == ("checked_in", 3, 1)
    assert state.consent == [("accepted", 1)] * 3  # consent recorded for every run

    assert deployment.checkout(reference).status_code == 200
    status, after = deployment.kiosk(testdata / CLIP, None, booking)
    assert status == 4, after  # a service problem
    assert after["error"]["code"] == "stay-not-active"
    assert deployment.audit_chain_intact()


def test_a_booking_not_checked_in_is_told_to_check_in_before_any_capture(
    deployment: Deployment, testdata: Path
) -> None:
    reservation = deployment.reservation()
    done = deployment.lethe(
        "kiosk", "--consent-accepted", "--source", str(testdata / CLIP), "--booking", reservation["booking_code"],
        check=False,
    )  # fmt: skip
    assert done.returncode == 4, done.stderr
    assert "error [stay-not-checked-in]: The stay is not checked in yet" in done.stderr
    state = deployment.stay_state(reservation["reference"])
    assert (state.status, state.attempts, state.sessions) == ("reserved", 0, {})
