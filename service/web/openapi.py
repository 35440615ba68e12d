"""``GET /openapi.json``: the OpenAPI 3.1 document of the JSON APIs (kiosk, PMS, operations), built from the routes.

Paths and methods come from the app's URL map, summaries from the view
docstrings, request bodies from the pydantic models the views parse, and the
error answers from the problem codes in ``service/errors.py``. The staff panel's
HTML pages are not in it. A test checks the document against the URL map and
validates it.
"""

from __future__ import annotations

import re
from importlib.metadata import version
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from service import errors
from service.stays import reservations
from service.web import kiosk_api, pms_api
from service.web.problems import HTTP_CODES, PROBLEM_JSON

bp = Blueprint("openapi", __name__)

REQUEST_MODELS: dict[str, type[BaseModel]] = {
    "kiosk_api.register": kiosk_api.RegisterBody,
    "kiosk_api.open_session": kiosk_api.SessionBody,
    "kiosk_api.checkout": kiosk_api.CheckoutBody,
    "kiosk_api.record_consent": kiosk_api.ConsentBody,
    "kiosk_api.kiosk_status": kiosk_api.StatusBody,
    "pms_api.create_reservation": reservations.ReservationBody,
    "pms_api.update_reservation": pms_api.UpdateBody,
    "pms_api.reissue_booking_code": pms_api.ReissueBody,
}
RAW_BODIES = {
    "kiosk_api.verify": kiosk_api.ENVELOPE_MEDIA_TYPE,
    "pms_api.import_reservations": "text/csv",
}
QUERY_MODELS: dict[str, type[BaseModel]] = {"pms_api.list_reservations": pms_api.ListQuery}
RESPONSE_MODELS: dict[str, type[BaseModel]] = {"pms_api.create_reservation": pms_api.CreatedReservation}
SUCCESS = {
    "kiosk_api.register": "201",
    "kiosk_api.open_session": "201",
    "pms_api.create_reservation": "201",
    "pms_api.import_reservations": "201",
}
TAGS = {
    "kiosk_api": "kiosk",
    "pms_api": "pms",
    "health": "operations",
    "openapi": "operations",
    "metrics": "operations",
}
SKIPPED_BLUEPRINTS = {"panel", "receipt_page"}  # HTML pages for people (staff, guests), not an API


def problem_codes() -> dict[str, int]:
    """Every problem code the API can answer with, and its HTTP status."""
    codes = {cls.code: cls.status for cls in _subclasses(errors.LetheError)}
    codes[errors.LetheError.code] = errors.LetheError.status
    codes.update({code: status for status, code in HTTP_CODES.items()})
    return dict(sorted(codes.items()))


def _subclasses(cls: type[errors.LetheError]) -> list[type[errors.LetheError]]:
    found = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(_subclasses(sub))
    return found


def _security(endpoint: str) -> list[dict[str, list[str]]] | None:
    if endpoint.startswith("pms_api."):
        return [{"pmsKey": []}]
    if endpoint in (
        "kiosk_api.open_session",
        "kiosk_api.end_session",
        "kiosk_api.record_consent",
        "kiosk_api.checkout",
        "kiosk_api.kiosk_status",
    ):
        return [{"kioskSignature": []}]
    return None


def build(app: Flask) -> dict[str, Any]:
    _, schemas = models_json_schema(
        [(m, "validation") for m in {*REQUEST_MODELS.values(), *QUERY_MODELS.values()}]
        + [(m, "serialization") for m in RESPONSE_MODELS.values()],
        ref_template="#/components/schemas/{model}",
    )
    components: dict[str, Any] = dict(schemas.get("$defs", {}))
    codes = problem_codes()
    components["Problem"] = {
        "type": "object",
        "description": "RFC 9457 problem details; never holds a template, a secret or a stack trace.",
        "required": ["type", "title", "status", "code"],
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "code": {"type": "string", "enum": list(codes)},
            "detail": {"type": "string"},
            "retryable": {"type": "boolean"},
        },
    }
    paths: dict[str, dict[str, Any]] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if rule.endpoint == "static" or rule.endpoint.split(".")[0] in SKIPPED_BLUEPRINTS:
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        view = app.view_functions[rule.endpoint]
        doc = (view.__doc__ or rule.endpoint).strip().splitlines()
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            operation: dict[str, Any] = {
                "operationId": rule.endpoint.replace(".", "_") + ("" if method in ("GET", "POST") else f"_{method}"),
                "summary": doc[0],
                "tags": [TAGS.get(rule.endpoint.split(".")[0], "operations")],
                "responses": {
                    SUCCESS.get(rule.endpoint, "200"): {"description": "success"},
                    "default": {
                        "description": "a problem (see the codes in the Problem schema and docs/api.md)",
                        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
                    },
                },
            }
            answer = RESPONSE_MODELS.get(rule.endpoint)
            if answer is not None:
                operation["responses"][SUCCESS.get(rule.endpoint, "200")]["content"] = {
                    "application/json": {"schema": {"$ref": f"#/components/schemas/{answer.__name__}"}}
                }
            if len(doc) > 1:
                operation["description"] = " ".join(line.strip() for line in doc[1:] if line.strip())
            parameters = [
                {"name": arg, "in": "path", "required": True, "schema": {"type": "string"}}
                for arg in sorted(rule.arguments)
            ]
            query = QUERY_MODELS.get(rule.endpoint)
            if query is not None:
                for name, field in query.model_fields.items():
                    schema = components[query.__name__]["properties"][name]
                    parameters.append({"name": name, "in": "query", "required": field.is_required(), "schema": schema})
            if parameters:
                operation["parameters"] = parameters
            body = REQUEST_MODELS.get(rule.endpoint)
            if body is not None:
                operation["requestBody"] = {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{body.__name__}"}}},
                }
            elif rule.endpoint in RAW_BODIES:
                operation["requestBody"] = {
                    "required": True,
                    "content": {RAW_BODIES[rule.endpoint]: {"schema": {"type": "string", "format": "binary"}}},
                }
            security = _security(rule.endpoint)
            if security is not None:
                operation["security"] = security
            paths.setdefault(path, {})[method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Lethe verification service",
            "version": version("lethe-checkin"),
            "description": "Privacy-preserving face check-in: kiosk API, PMS API, operations. See docs/api.md.",
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "pmsKey": {"type": "http", "scheme": "bearer", "description": "a PMS integration's API key"},
                "kioskSignature": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Lethe-Signature",
                    "description": "Ed25519 request signature with Lethe-Kiosk, Lethe-Timestamp, Lethe-Request-Nonce",
                },
            },
        },
    }


@bp.get("/openapi.json")
def openapi() -> Response:
    """The OpenAPI 3.1 document of this API."""
    return jsonify(build(current_app))
