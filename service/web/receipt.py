"""The guest's receipt page (``GET /receipt``): one self-contained HTML file that checks a deletion receipt.

The receipt travels in the link's fragment (``/receipt#r1.…``, see
``protocol.receipt.receipt_fragment``), which browsers never send to the
server, so the service does not learn who looked at which receipt. The page
carries the service's receipt public keys and verifies the Ed25519 signature
in the browser with WebCrypto; it loads nothing (its Content-Security-Policy
forbids every fetch), so a copy saved with its "Save" button verifies offline.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, render_template_string, request

from protocol.encoding import b64url_encode
from service import property as prop
from service.web.context import service

bp = Blueprint("receipt_page", __name__)
PAGE = Path(__file__).with_name("receipt.html")
CSP = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'"


def receipt_page_url() -> str:
    """Where guests' phones open receipts: ``LETHE_PUBLIC_URL`` + ``/receipt``, else this request's host."""
    base = service().settings.public_url or request.host_url
    return base.rstrip("/") + "/receipt"


def published_keys_url() -> str:
    """The stable address of the receipt public keys (``GET /api/v1/keys``, its ``receipt`` list)."""
    base = service().settings.public_url or request.host_url
    return base.rstrip("/") + "/api/v1/keys"


@bp.get("/receipt")
def receipt_page() -> Response:
    """The receipt page; the receipt itself is in the URL's fragment, read by the page's script."""
    svc = service()
    keys = [
        {"key_id": key.key_id.hex(), "public_key": b64url_encode(key.raw)} for key in svc.keyring.receipt_public_keys()
    ]
    published = published_keys_url()
    with svc.db.transaction() as session:
        hotel = prop.load(session, prop.General).name
    page = render_template_string(PAGE.read_text(encoding="utf-8"), keys=keys, published=published, hotel=hotel)
    response = Response(page, mimetype="text/html")
    response.headers["Content-Security-Policy"] = CSP
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
