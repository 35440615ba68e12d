"""``lethe booking new``: a PMS makes a booking code without the service."""

from __future__ import annotations

import json

from click.testing import CliRunner

from lethe.cli import main
from protocol import parse_booking_code


def test_new_code_and_its_fingerprint() -> None:
    result = CliRunner().invoke(main, ["booking", "new", "PMS12345"])
    assert result.exit_code == 0, result.output
    made = json.loads(result.output)
    code = parse_booking_code(made["booking_code"])
    assert (code.reference, code.fingerprint) == ("PMS12345", made["stay_secret_fingerprint"])
    assert made["reference"] == "PMS12345"
    assert CliRunner().invoke(main, ["booking", "new", "bad ref"]).exit_code == 2
