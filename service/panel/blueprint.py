"""The panel's blueprint: its request hooks, what every page's template sees, and its HTML error pages.

The pages register on :data:`bp` from their own modules, one per area, as
Flask's tutorial splits ``auth`` and ``blog``: ``auth`` (sign-in, sign-out,
language), ``desk`` (the day's board and a stay's page with its actions),
``manage`` (kiosks, the audit log, the property's settings) and ``admin``
(staff accounts). Each view names the least role it needs (``requires``).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, abort, g, redirect, render_template, request, url_for
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from service.errors import LetheError
from service.panel import queries
from service.panel.accounts import ADMIN, MANAGER, ROLES
from service.panel.forms import ActionForm
from service.panel.i18n import LANGUAGES, current_language, gettext
from service.panel.scores import score_and_threshold
from service.panel.security import (
    add_headers,
    current,
    insecure_transport,
    insecure_transport_message,
    load_staff,
    protect,
)
from service.web.context import service

log = logging.getLogger(__name__)
bp = Blueprint("panel", __name__, url_prefix="/panel", template_folder="templates", static_folder="static")
bp.before_request(load_staff)
bp.before_request(protect)
bp.after_request(add_headers)


def now() -> dt.datetime:
    return service().now()


def actor() -> str:
    """The signed-in staff member as the audit log names them."""
    return f"staff:{current().username}"


def _zone() -> ZoneInfo:
    zone: ZoneInfo | None = g.get("zone")
    if zone is None:
        with service().db.transaction() as db:
            zone = queries.property_zone(db)
        g.zone = zone
    return zone


def local(moment: dt.datetime | None, with_date: bool = True) -> str:
    """``moment`` in the property's time zone, for a page."""
    if moment is None:
        return "—"
    shown = moment.astimezone(_zone())
    return shown.strftime("%Y-%m-%d %H:%M" if with_date else "%H:%M")


@bp.app_context_processor
def _globals() -> dict[str, Any]:
    if request.blueprint != "panel":
        return {}
    return {
        "_": gettext,
        "local": local,
        "staff": g.get("staff"),
        "language": current_language(),
        "languages": LANGUAGES,
        "roles": ROLES,
        "MANAGER": MANAGER,
        "ADMIN": ADMIN,
        "action_form": ActionForm(),
        "score_and_threshold": score_and_threshold,
    }


# ---- errors: HTML pages, never JSON, under /panel ------------------------------------------------


@bp.route("/<path:_rest>", methods=["GET", "POST"])
def unknown(_rest: str) -> Response:
    """Any other path under /panel: an HTML 404 page (not the API's problem+json)."""
    abort(404)


@bp.errorhandler(HTTPException)
def _http_error(err: HTTPException) -> Response:
    status = err.code or 500
    if status == 401:
        return redirect(url_for("panel.login"))  # type: ignore[return-value]
    if isinstance(err, CSRFError) and insecure_transport():  # the session cookie never came back: say why
        return _error_page(status, insecure_transport_message())
    return _error_page(status)


@bp.errorhandler(LetheError)
def _domain_error(err: LetheError) -> Response:
    return _error_page(err.status, err.detail)


@bp.errorhandler(OperationalError)
def _database_unavailable(err: OperationalError) -> Response:
    log.warning("panel: database unavailable: %s", type(err.orig).__name__)
    return _error_page(503)


@bp.errorhandler(Exception)
def _unexpected(err: Exception) -> Response:
    log.error("panel: unhandled %s", type(err).__name__, exc_info=err)
    return _error_page(500)


TITLES = {
    400: "The request could not be understood",
    403: "You do not have access to this page",
    404: "Page not found",
    405: "That action is not allowed here",
    409: "That cannot be done in the stay's current state",
    413: "The request is too large",
    423: "Face check-in is locked for this stay",
    429: "Too many requests",
    500: "Something went wrong",
    503: "The service is busy; try again shortly",
}


def _error_page(status: int, detail: str | None = None) -> Response:
    title = gettext(TITLES.get(status, "Something went wrong"))
    page = render_template("panel/error.html", status=status, title=title, detail=detail)
    return add_headers(Response(page, status=status))
