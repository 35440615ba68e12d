"""The panel's blueprint object, shared by its view modules."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("panel", __name__, url_prefix="/panel", template_folder="templates", static_folder="static")
