"""The property's own settings: what the hotel's managers may change at run time.

Process settings (``service/settings.py``) say how the service runs; these say
how the property works: its time zone, how long data is kept after checkout,
the liveness policy, the face comparison's operating point and the consent
notice. They live in the database as one
versioned JSON document per section, validated by the models below, and every
change is audited.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from typing import Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.orm import Session

from models.registry import DEFAULT_TARGET_FMR, OPERATING_POINTS
from service.storage import audit
from service.storage.tables import PropertySetting, utcnow

Challenge = Literal["none", "blink", "turn-left", "turn-right"]
Language = Literal["en", "zh-Hans"]
DEFAULT_CHALLENGE_MIX: dict[Challenge, int] = {"none": 0, "blink": 2, "turn-left": 1, "turn-right": 1}
DEFAULT_NOTICE: dict[Language, str] = {
    "en": (
        "To check you in by face, this kiosk compares your face with the photo on your ID. "
        "No photo leaves the kiosk: only an encrypted face template does, and the hotel deletes it "
        "when you check out and gives you a signed receipt. You can check in at the front desk instead."
    ),
    "zh-Hans": (
        "为了通过人脸为您办理入住，本机会将您的面部与证件照片进行比对。照片不会离开本机，只会传送加密的人脸特征模板；"
        "您退房时酒店会将其删除，并向您提供签名的删除凭证。您也可以改到前台办理入住。"
    ),
}


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


LOGO_TYPES = ("image/png", "image/jpeg", "image/webp", "image/svg+xml")
MAX_LOGO_BYTES = 40 * 1024  # with the form around it, under the default 64 KiB request limit


class Logo(_Section):
    """The hotel's logo for the guest's screen: an image of at most 40 KiB, base64."""

    media_type: Literal["image/png", "image/jpeg", "image/webp", "image/svg+xml"]
    data: str = Field(max_length=(MAX_LOGO_BYTES * 4 + 2) // 3 + 4)


class General(_Section):
    """The hotel: its name and time zone, and how the guest's screen presents it (accent colour, logo)."""

    name: str = Field(default="Lethe demo hotel", min_length=1, max_length=120)
    timezone: str = "UTC"
    accent_colour: str = Field(default="#0f5f5a", pattern=r"^#[0-9a-fA-F]{6}$")
    logo: Logo | None = None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value


class Retention(_Section):
    """How long after the event the retention job deletes what checkout missed."""

    checkout_grace_h: int = Field(default=24, ge=0, le=24 * 30)
    no_show_grace_h: int = Field(default=24, ge=0, le=24 * 30)
    abandoned_session_min: int = Field(default=30, ge=5, le=24 * 60)


DEMO_LIVENESS = "passive-only-demo"


class Liveness(_Section):
    """What the service requires of the kiosk's liveness evidence before it accepts.

    ``require_challenge = False`` is the try-out policy, for demos with recorded
    video (which cannot perform a challenge drawn at random): passive liveness
    only. It is never the default; setting it (``lethe property liveness
    --demo-passive-only``, or the panel's Settings) is audited naming it, and
    every session opened under it is audited with ``liveness_policy:
    passive-only-demo``.
    """

    require_passive: bool = True
    passive_min_score: float = Field(default=0.5, ge=0.0, le=1.0)
    require_challenge: bool = True
    challenge_mix: dict[Challenge, int] = Field(default_factory=lambda: dict(DEFAULT_CHALLENGE_MIX))

    @field_validator("challenge_mix")
    @classmethod
    def _some_weight(cls, value: dict[Challenge, int]) -> dict[Challenge, int]:
        if any(w < 0 for w in value.values()) or sum(value.values()) <= 0:
            raise ValueError("challenge weights must be non-negative and not all zero")
        return value

    @property
    def name(self) -> str:
        """``challenge`` (the production policy), or ``passive-only-demo``: what the audit records."""
        return "challenge" if self.require_challenge else DEMO_LIVENESS


class Matching(_Section):
    """The operating point of the face comparison: the false-match rate whose calibrated threshold decides.

    Each embedder in the model manifest has a threshold per operating point,
    with the rates measured on people the calibration never saw; the panel's
    Settings page shows them in words.
    """

    target_fmr: float = DEFAULT_TARGET_FMR

    @field_validator("target_fmr")
    @classmethod
    def _calibrated(cls, value: float) -> float:
        for point in OPERATING_POINTS:
            if math.isclose(value, point, rel_tol=1e-9):
                return point
        raise ValueError(f"the operating point must be one of {', '.join(f'{p:g}' for p in OPERATING_POINTS)}")


class ConsentNotice(_Section):
    """The versioned consent notice the kiosk shows before any camera frame is templated."""

    version: int = Field(default=1, ge=1)
    text: dict[Language, str] = Field(default_factory=lambda: dict(DEFAULT_NOTICE))


S = TypeVar("S", bound=_Section)

SECTIONS: dict[str, type[_Section]] = {
    "general": General,
    "retention": Retention,
    "liveness": Liveness,
    "matching": Matching,
    "consent": ConsentNotice,
}


def load(session: Session, section: type[S]) -> S:
    """Return the stored value of ``section``, or its defaults if never set."""
    row = session.get(PropertySetting, section_key(section))
    return from_document(section, None if row is None else row.value)


def from_document(section: type[S], document: str | None) -> S:
    """``section`` from its stored JSON document (``None``: never set, the defaults).

    Parsed values are kept per process, keyed by the document itself: a changed
    setting is a new document, so nothing goes stale (the values are frozen).
    """
    return section() if document is None else _parse(section, document)


@functools.lru_cache(maxsize=64)
def _parse(section: type[S], document: str) -> S:
    return section.model_validate_json(document)


def save(session: Session, value: _Section, *, actor: str) -> None:
    """Store ``value`` (already validated by its model) and audit the change."""
    key = section_key(type(value))
    row = session.get(PropertySetting, key)
    document = value.model_dump_json()
    if row is None:
        session.add(PropertySetting(key=key, value=document, updated_at=utcnow()))
    else:
        row.value = document
        row.updated_at = utcnow()
    details = {"liveness_policy": value.name} if isinstance(value, Liveness) else None
    audit.append(session, audit.Entry(actor=actor, action="property.settings.update", subject=key, details=details))


def local_time(session: Session, moment: dt.datetime) -> dt.datetime:
    """``moment`` in the property's time zone."""
    return moment.astimezone(ZoneInfo(load(session, General).timezone))


def section_key(section: type[_Section]) -> str:
    """The ``property_settings.key`` row that holds ``section``."""
    for key, model in SECTIONS.items():
        if model is section:
            return key
    raise KeyError(section.__name__)
