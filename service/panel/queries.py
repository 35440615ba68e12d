"""Read-only queries behind the panel's pages: the day's board, each stay's face check-in state and page, kiosks,
enrolment codes, staff accounts and the audit log."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from service import property as prop
from service.checkin.overrides import OVERRIDE_REASON
from service.storage.tables import AuditEntry, CheckinAttempt, CheckinSession, EnrolmentCode, Kiosk, StaffAccount, Stay

# The face check-in states the panel shows, in the order a stay usually passes them.
STATES = (
    "not-started",
    "consent-refused",
    "in-progress",
    "accepted",
    "rejected",
    "locked",
    "overridden",
    "checked-out",
    "deleted",
)


# Statuses in which the stay's face data is gone without a checkout: cancelled (``service/stays/forget.py``),
# purged by the retention job as a no-show or an overdue departure (``service/stays/retention.py``).
DATA_DELETED = ("deleted", "cancelled", "expired", "no_show")
# Audit actions that delete a stay's face data without a checkout, and what the panel calls each.
# ``stay.erase`` also deletes the stay row itself: its audit entry (random stay id, counts) is all that is left.
DELETIONS = {
    "stay.erase": "erased",
    "stay.cancel": "cancelled",
    "stay.expire": "expired",
    "stay.no-show": "no_show",
    "stay.purge": "deleted",
}


@dataclass(frozen=True)
class FaceState:
    code: str
    reason: str | None = None
    at: dt.datetime | None = None


@dataclass(frozen=True)
class Row:
    stay: Stay
    state: FaceState


@dataclass(frozen=True)
class DeletedRow:
    """A stay whose face data was deleted today; ``stay`` is None when it was erased (only its id is left)."""

    stay_id: str
    stay: Stay | None
    kind: str
    at: dt.datetime
    actor: str

    @property
    def state(self) -> FaceState:
        return FaceState("deleted", reason=self.kind, at=self.at)


@dataclass(frozen=True)
class Board:
    day: dt.date
    arrivals: list[Row]
    in_house: list[Row]
    departures: list[Row]
    deleted: list[DeletedRow]


@dataclass(frozen=True)
class ConsentAnswer:
    """One guest answer to the consent notice, from a check-in session."""

    at: dt.datetime | None
    decision: str
    version: int | None
    kiosk_id: str


@dataclass(frozen=True)
class StayPage:
    """What a stay's page shows."""

    stay: Stay
    state: FaceState
    attempts: list[CheckinAttempt]
    kiosk_names: dict[str, str]
    history: list[AuditEntry]
    consents: list[ConsentAnswer]
    notice: prop.ConsentNotice


def stay(session: Session, stay_id: str) -> Stay | None:
    return session.get(Stay, stay_id)


def stay_page(session: Session, stay_id: str, now: dt.datetime) -> StayPage | None:
    """Everything the stay's page shows, or ``None`` when there is no such stay."""
    found = session.get(Stay, stay_id)
    if found is None:
        return None
    return StayPage(
        stay=found,
        state=face_states(session, [found], now)[found.id],
        attempts=stay_attempts(session, found.id),
        kiosk_names=kiosk_names(session),
        history=stay_history(session, found.id),
        consents=stay_consents(session, found.id),
        notice=prop.load(session, prop.ConsentNotice),
    )


def stay_references(session: Session, stay_ids: Iterable[str]) -> dict[str, str]:
    """The booking reference of each of ``stay_ids`` that is still a stay (erased stays are not)."""
    ids = list(stay_ids)
    found: dict[str, str] = {}
    for start in range(0, len(ids), 500):
        rows = session.execute(select(Stay.id, Stay.reference).where(Stay.id.in_(ids[start : start + 500])))
        found.update({stay_id: reference for stay_id, reference in rows})
    return found


def kiosk_names(session: Session) -> dict[str, str]:
    return {k.id: k.name for k in session.scalars(select(Kiosk))}


def pending_enrolment_codes(session: Session, now: dt.datetime) -> list[EnrolmentCode]:
    """Enrolment codes not used yet and not expired, the soonest to expire first (never the codes themselves)."""
    return list(
        session.scalars(
            select(EnrolmentCode)
            .where(EnrolmentCode.used_at.is_(None), EnrolmentCode.expires_at > now)
            .order_by(EnrolmentCode.expires_at)
        )
    )


def staff_accounts(session: Session) -> list[StaffAccount]:
    return list(session.scalars(select(StaffAccount).order_by(StaffAccount.username)))


def property_zone(session: Session) -> ZoneInfo:
    return ZoneInfo(prop.load(session, prop.General).timezone)


def face_states(session: Session, stays: Sequence[Stay], now: dt.datetime) -> dict[str, FaceState]:
    """Each stay's face check-in state, from its status and lock, its last attempt and open sessions."""
    ids = [s.id for s in stays]
    if not ids:
        return {}
    last_attempt: dict[str, CheckinAttempt] = {}
    for row in session.scalars(
        select(CheckinAttempt).where(CheckinAttempt.stay_id.in_(ids)).order_by(CheckinAttempt.id)
    ):
        last_attempt[row.stay_id] = row
    open_sessions = set(
        session.scalars(
            select(CheckinSession.stay_id).where(
                CheckinSession.stay_id.in_(ids), CheckinSession.status == "open", CheckinSession.expires_at > now
            )
        )
    )
    last_refusal: dict[str, dt.datetime] = {}
    for stay_id, at in session.execute(
        select(CheckinSession.stay_id, CheckinSession.consent_at)
        .where(CheckinSession.stay_id.in_(ids), CheckinSession.consent == "refused")
        .order_by(CheckinSession.consent_at)
    ):
        if at is not None:
            last_refusal[stay_id] = at
    states: dict[str, FaceState] = {}
    for stay in stays:
        attempt = last_attempt.get(stay.id)
        refused_at = last_refusal.get(stay.id)
        if stay.status in DATA_DELETED:
            states[stay.id] = FaceState("deleted", reason=stay.status, at=stay.checked_out_at)
        elif stay.status == "checked_out":
            states[stay.id] = FaceState("checked-out", at=stay.checked_out_at)
        elif stay.locked_at is not None:
            states[stay.id] = FaceState("locked", at=stay.locked_at)
        elif attempt is not None and attempt.reason == OVERRIDE_REASON:
            states[stay.id] = FaceState("overridden", at=attempt.created_at)
        elif stay.id in open_sessions:
            states[stay.id] = FaceState("in-progress")
        elif refused_at is not None and (attempt is None or attempt.created_at <= refused_at):
            states[stay.id] = FaceState("consent-refused", at=refused_at)
        elif attempt is not None and attempt.decision == "accepted":
            states[stay.id] = FaceState("accepted", at=attempt.created_at)
        elif attempt is not None:
            states[stay.id] = FaceState("rejected", reason=attempt.reason, at=attempt.created_at)
        else:
            states[stay.id] = FaceState("not-started")
    return states


def board(session: Session, now: dt.datetime) -> Board:
    """Today's arrivals, guests in house and departures (today is the property's local date)."""
    zone = property_zone(session)
    today = now.astimezone(zone).date()
    midnight = dt.datetime.combine(today, dt.time(), zone)
    stays = list(
        session.scalars(
            select(Stay)
            .where(
                or_(
                    Stay.arrival == today,
                    Stay.departure == today,
                    Stay.status == "checked_in",
                    Stay.checked_out_at >= midnight,
                )
            )
            .order_by(Stay.guest_name, Stay.reference)
        )
    )
    states = face_states(session, stays, now)

    def rows(chosen: Iterable[Stay]) -> list[Row]:
        return [Row(s, states[s.id]) for s in chosen]

    arrivals = rows(s for s in stays if s.arrival == today and s.status in ("reserved", "checked_in"))
    in_house = rows(s for s in stays if s.status == "checked_in" and s.departure > today)
    departures = rows(s for s in stays if _departing(s, today, midnight))
    shown = {row.stay.id for row in (*arrivals, *in_house, *departures)}
    return Board(today, arrivals, in_house, departures, deleted_since(session, midnight, exclude=shown))


def deleted_since(session: Session, since: dt.datetime, *, exclude: set[str]) -> list[DeletedRow]:
    """Stays whose face data was deleted since ``since`` (erased, cancelled, purged), newest first.

    Derived from the audit log, which keeps the (random) stay id of an erased stay and nothing
    personal; a stay that still exists is shown with its row. Stays in ``exclude`` are left out.
    """
    entries = session.scalars(
        select(AuditEntry)
        .where(AuditEntry.action.in_(list(DELETIONS)), AuditEntry.at >= since, AuditEntry.subject.is_not(None))
        .order_by(AuditEntry.id.desc())
    ).all()
    latest: dict[str, AuditEntry] = {}
    for entry in entries:
        if entry.subject is not None and entry.subject not in exclude:
            latest.setdefault(entry.subject, entry)
    remaining = {s.id: s for s in session.scalars(select(Stay).where(Stay.id.in_(list(latest))))} if latest else {}
    return [
        DeletedRow(stay_id, remaining.get(stay_id), DELETIONS[entry.action], entry.at, entry.actor)
        for stay_id, entry in latest.items()
    ]


def stay_consents(session: Session, stay_id: str) -> list[ConsentAnswer]:
    """The guest's answers to the consent notice on each check-in session of the stay, oldest first."""
    return [
        ConsentAnswer(row.consent_at, row.consent or "", row.consent_version, row.kiosk_id)
        for row in session.scalars(
            select(CheckinSession)
            .where(CheckinSession.stay_id == stay_id, CheckinSession.consent.is_not(None))
            .order_by(CheckinSession.consent_at)
        )
    ]


def _departing(stay: Stay, today: dt.date, midnight: dt.datetime) -> bool:
    """Due out today, or already checked out today (whatever the booked departure)."""
    if stay.checked_out_at is not None and stay.checked_out_at >= midnight:
        return True
    return stay.departure == today and stay.status == "checked_in"


def search_stays(session: Session, text: str, limit: int = 50) -> list[Stay]:
    """Stays whose booking reference or guest name contains ``text`` (case-insensitive)."""
    pattern = f"%{text.strip()}%"
    return list(
        session.scalars(
            select(Stay)
            .where(or_(Stay.reference.ilike(pattern), Stay.guest_name.ilike(pattern)))
            .order_by(Stay.arrival.desc())
            .limit(limit)
        )
    )


def stay_attempts(session: Session, stay_id: str) -> list[CheckinAttempt]:
    return list(
        session.scalars(select(CheckinAttempt).where(CheckinAttempt.stay_id == stay_id).order_by(CheckinAttempt.id))
    )


def stay_history(session: Session, stay_id: str) -> list[AuditEntry]:
    return list(session.scalars(select(AuditEntry).where(AuditEntry.subject == stay_id).order_by(AuditEntry.id)))


@dataclass(frozen=True)
class AuditQuery:
    stay: str = ""
    actor: str = ""
    action: str = ""
    since: dt.date | None = None
    until: dt.date | None = None


def audit_search(session: Session, query: AuditQuery, zone: ZoneInfo, limit: int = 200) -> list[AuditEntry]:
    """Audit entries matching every given filter, newest first. Dates are local days of the property."""
    statement = select(AuditEntry)
    if query.stay:
        stay_ids = [
            s.id
            for s in session.scalars(
                select(Stay).where(or_(Stay.reference == query.stay.strip().upper(), Stay.id == query.stay.strip()))
            )
        ]
        statement = statement.where(AuditEntry.subject.in_(stay_ids or [query.stay.strip()]))
    if query.actor:
        statement = statement.where(AuditEntry.actor.ilike(f"%{query.actor.strip()}%"))
    if query.action:
        statement = statement.where(AuditEntry.action.ilike(f"{query.action.strip()}%"))
    if query.since:
        start = dt.datetime.combine(query.since, dt.time(), zone)
        statement = statement.where(AuditEntry.at >= start)
    if query.until:
        end = dt.datetime.combine(query.until + dt.timedelta(days=1), dt.time(), zone)
        statement = statement.where(AuditEntry.at < end)
    return list(session.scalars(statement.order_by(AuditEntry.id.desc()).limit(limit)))
