"""/openapi.json describes exactly the routes the app serves, validates, and every problem code is documented."""

from __future__ import annotations

import re

from openapi_spec_validator import validate

from service.web.openapi import problem_codes
from tests.helpers import ROOT
from tests.helpers.service import Actions


def test_document_is_valid_and_matches_the_url_map(actions: Actions) -> None:
    answer = actions.client.get("/openapi.json")
    assert answer.status_code == 200
    document = answer.json
    validate(document)
    app = actions.client.application
    served = {
        (re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule), method.lower())
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static" and not rule.endpoint.startswith(("panel.", "receipt_page."))
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }
    documented = {(path, method) for path, item in document["paths"].items() for method in item}
    assert documented == served
    assert ("/api/v1/verify", "post") in documented
    assert not any(path.startswith(("/panel", "/receipt")) for path, _ in documented)  # HTML pages, not an API
    verify = document["paths"]["/api/v1/verify"]["post"]
    assert "application/vnd.lethe.envelope" in verify["requestBody"]["content"]
    create = document["paths"]["/pms/v1/reservations"]["post"]
    schema = document["components"]["schemas"][
        create["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    ]
    assert set(schema["required"]) == {"guest_name", "arrival", "departure"}
    created = create["responses"]["201"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    answer = document["components"]["schemas"][created]
    assert not {"booking_code", "qr"} & set(answer["required"])  # none when the PMS made the code
    (qr_ref,) = [option["$ref"] for option in answer["properties"]["qr"]["anyOf"] if "$ref" in option]
    qr = qr_ref.rsplit("/", 1)[-1]
    assert set(document["components"]["schemas"][qr]["required"]) == {"svg", "png_base64", "email_html", "email_cid"}
    assert document["components"]["schemas"]["Problem"]["properties"]["code"]["enum"] == list(problem_codes())


def test_every_problem_code_is_in_the_api_docs() -> None:
    text = (ROOT / "docs" / "api.md").read_text()
    missing = [code for code in problem_codes() if f"| `{code}` |" not in text]
    assert missing == []
