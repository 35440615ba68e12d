"""Crawl every panel page as each role: no page shows template bytes, score vectors or images."""

from __future__ import annotations

import base64
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

from service.storage.tables import Stay, StayKey, StoredTemplate
from service.web.context import Service
from tests.helpers.service import Actions, Staff, near, random_template


def panel_get_paths(app: Flask, stay_id: str) -> list[str]:
    paths = []
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("panel.") or "GET" not in (rule.methods or ()):
            continue
        if rule.endpoint in {"panel.static", "panel.unknown"}:
            continue
        paths.append(rule.rule.replace("<stay_id>", stay_id))
    return sorted(paths)


def forbidden_strings(svc: Service, vectors: list[list[float]]) -> list[str]:
    found = []
    with svc.db.transaction() as session:
        for row in session.query(StoredTemplate):
            found += [row.ciphertext.hex()[:32], base64.b64encode(row.ciphertext).decode()[:32]]
        for key in session.query(StayKey):
            found += [key.wrapped_seed.hex()[:32], base64.b64encode(key.wrapped_seed).decode()[:32]]
    for vector in vectors:
        found += [f"{v:.6f}" for v in vector[:4]] + [repr(float(v)) for v in vector[:4]]
    return found


@pytest.mark.parametrize("role", ["front_desk", "manager", "admin"])
def test_crawl_every_page_as_each_role(
    app: Flask, client: FlaskClient, staff: Staff, actions: Actions, svc: Service, role: str
) -> None:
    reference = random_template(11)
    live = near(reference, 0.01)
    code, answer = actions.checkin(live, reference)
    assert answer.json["decision"] == "accepted"
    with svc.db.transaction() as session:
        stay_id = session.query(Stay).filter_by(reference=code.reference).one().id
        assert session.query(StoredTemplate).count() == 1
    forbidden = forbidden_strings(svc, [list(reference.vector), list(live.vector)])
    staff.sign_in_as(role)
    paths = panel_get_paths(app, stay_id)
    assert {"/panel/today", "/panel/stays/" + stay_id, "/panel/audit", "/panel/staff"} <= set(paths)
    seen = 0
    for path in paths:
        answer = client.get(path)
        if path.endswith(("/receipt", "/receipt.json")):  # the stay is in house: no receipt yet
            assert answer.status_code == 404, path
        assert answer.status_code in (200, 302, 403, 404), path
        html = answer.get_data(as_text=True)
        assert answer.mimetype == "text/html", path
        for needle in forbidden:
            assert needle not in html, f"{path} shows {needle}"
        assert "<img" not in html, path
        assert "data:image" not in html, path
        assert not re.search(r"\[(-?\d+\.\d+,\s*){16,}", html), f"{path} shows a vector"
        seen += answer.status_code == 200
    assert seen >= 3
