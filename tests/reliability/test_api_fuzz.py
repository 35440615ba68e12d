"""Schemathesis against ``/openapi.json``: every operation, as a PMS with a valid key and as a signing kiosk.

Each operation gets ``EXAMPLES`` valid and ``EXAMPLES`` invalid requests (schemathesis'
positive and negative generation), drawn with a fixed seed (hypothesis ``derandomize``),
so a run is the same run every time. Every answer must be below 500 and conform to the
document, and every error must be an ``application/problem+json`` with a code
``docs/api.md`` lists.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import ignored_auth, positive_data_acceptance

from protocol import sign_request
from tests.helpers import ROOT
from tests.helpers.service import PROBLEM, Actions, Kiosk

# The raw bodies (the sealed envelope, the CSV import) are schema "binary" strings: sent as they are.
schemathesis.serializer.alias(["application/vnd.lethe.envelope", "text/csv"], "application/octet-stream")
EXAMPLES = 12  # per operation and generation mode
DOCUMENTED = set(re.findall(r"^\| `([a-z-]+)` \| [0-9]{3} \|", (ROOT / "docs" / "api.md").read_text(), re.MULTILINE))
TALLY = Path(__file__).with_name("fuzz-tally.json")  # written for docs/reliability.md; not committed


def body_of(case: Any) -> bytes:
    if case.body is None or type(case.body).__name__ == "NotSet":
        return b""
    if isinstance(case.body, bytes):
        return case.body
    if isinstance(case.body, str):
        return case.body.encode()
    return json.dumps(case.body).encode()


def send(actions: Actions, kiosk: Kiosk, case: Any) -> Any:
    """Send ``case`` as the PMS (its valid key) or as the registered kiosk (signed over the exact bytes)."""
    body = body_of(case)
    path = case.formatted_path
    headers = {k: str(v) for k, v in (case.headers or {}).items()}
    security = {name for requirement in case.operation.definition.raw.get("security", []) for name in requirement}
    if "pmsKey" in security:
        headers.update(actions.pms)
    if "kioskSignature" in security:
        headers.update(sign_request(kiosk.key, kiosk.kiosk_id, case.method, path, body))
    return actions.client.open(
        path,
        method=case.method,
        query_string=case.query or None,
        headers=headers,
        data=body,
        content_type=case.media_type or None,
    )


def fuzz(operation: Any, mode: GenerationMode, actions: Actions, kiosk: Kiosk, tally: Counter[str]) -> None:
    """``EXAMPLES`` requests for ``operation`` in ``mode``; each answer checked."""

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case: Any) -> None:
        answer = send(actions, kiosk, case)
        label = f"{case.method} {case.formatted_path} -> {answer.status_code}"
        tally[f"{operation.label} {mode.value}"] += 1
        tally[str(answer.status_code)] += 1
        if answer.status_code >= 400:
            tally[f"{answer.status_code} {answer.json['code']}"] += 1
        assert answer.status_code < 500, f"{label}: {answer.get_data(as_text=True)[:300]}"
        if answer.status_code >= 400:
            assert answer.mimetype == PROBLEM, label
            assert answer.json["code"] in DOCUMENTED, label
            assert answer.json["status"] == answer.status_code, label
        # A schema cannot say what a booking code or a reference is: a schema-valid request may be a 400.
        # Every request here carries valid credentials (send() adds them): refusing bad credentials is tested
        # where they are checked (tests/service/web, tests/protocol).
        case.validate_response(answer, excluded_checks=[positive_data_acceptance, ignored_auth])

    check()


@pytest.mark.parametrize("migrated_url", ["sqlite"], indirect=True)
def test_no_operation_answers_5xx_or_an_undocumented_problem(app: Flask, actions: Actions) -> None:
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    schema.config.generation.update(with_security_parameters=False)  # send() adds valid credentials
    kiosk = actions.kiosk()
    actions.reservation()
    tally: Counter[str] = Counter()
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 14
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                fuzz(operation, mode, actions, kiosk, tally)
            except Unsatisfiable:  # nothing to make invalid: no parameters and no body (GET /healthz)
                assert mode is GenerationMode.NEGATIVE, operation.label
                tally["operations without invalid input"] += 1
    requests = sum(v for k, v in tally.items() if k.endswith((" positive", " negative")))
    TALLY.write_text(json.dumps({"requests": requests, "operations": len(operations), **tally}, indent=1))
    assert requests >= len(operations) * EXAMPLES
