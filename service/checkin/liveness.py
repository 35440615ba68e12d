"""The property's liveness policy, applied per check-in session (no Flask here).

When a session opens, :func:`choose_challenge` draws the active challenge from
the policy's weighted mix (or ``"none"`` when the policy asks for no
challenge); it is stored on the session and sent to the kiosk. When the sealed
envelope arrives, :func:`failure` checks the kiosk's liveness evidence against
the policy and against that session: the evidence must name the session's
nonce and challenge, the challenge (if any) must be passed, and the passive
score must reach the policy's minimum when the policy requires it.
"""

from __future__ import annotations

import secrets

from protocol import LivenessEvidence
from service import property as prop

NO_CHALLENGE = "none"


def choose_challenge(policy: prop.Liveness) -> str:
    """Draw a session's challenge from the policy's mix, with a CSPRNG so a kiosk cannot predict it."""
    if not policy.require_challenge:
        return NO_CHALLENGE
    weighted = [(name, weight) for name, weight in sorted(policy.challenge_mix.items()) if weight > 0]
    draw = secrets.randbelow(sum(weight for _, weight in weighted))
    for name, weight in weighted:
        if draw < weight:
            return name
        draw -= weight
    raise AssertionError("unreachable: the draw is below the total weight")


def failure(
    policy: prop.Liveness, *, nonce: bytes, challenge: str | None, evidence: LivenessEvidence | None
) -> str | None:
    """Why ``evidence`` fails ``policy`` for the session with ``nonce`` and ``challenge``, or ``None`` when it passes.

    The reason is for the operator's log; the kiosk only learns ``liveness-failed``.
    """
    challenge = challenge or NO_CHALLENGE
    if evidence is None:
        if policy.require_passive or challenge != NO_CHALLENGE:
            return "no liveness evidence in the payload"
        return None
    if not secrets.compare_digest(evidence.nonce, nonce):
        return "evidence names another session's nonce"
    if evidence.challenge != challenge:
        return f"evidence names challenge {evidence.challenge!r}, the session asked for {challenge!r}"
    if challenge != NO_CHALLENGE and not evidence.challenge_passed:
        return f"challenge {challenge!r} not passed"
    if policy.require_passive:
        if evidence.passive_score is None:
            return "no passive liveness score"
        if evidence.passive_score < policy.passive_min_score:
            return "passive liveness score below the property's minimum"
    return None
