"""Hardening headers on every answer, as OWASP ASVS level 2 asks of a web service.

* ``X-Content-Type-Options: nosniff`` everywhere, so no answer is ever read as
  another type than it says (a problem+json body as HTML, say).
* On the JSON API and everything else that sets none of its own, a
  Content-Security-Policy that allows nothing (``default-src 'none';
  frame-ancestors 'none'``) and ``Cache-Control: no-store``: an answer can hold a
  booking code or a receipt. The panel and the receipt page set their own.
* ``Strict-Transport-Security`` (one year) when the request came over HTTPS, as
  Flask sees it (``wsgi.url_scheme``); never on plain HTTP, where browsers ignore it.
"""

from __future__ import annotations

from flask import Flask, Response, request

API_CSP = "default-src 'none'; frame-ancestors 'none'"
HSTS = "max-age=31536000"


def _harden(response: Response) -> Response:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Content-Security-Policy", API_CSP)
    response.headers.setdefault("Cache-Control", "no-store")
    if request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", HSTS)
    return response


def init_app(app: Flask) -> None:
    app.after_request(_harden)
