"""Print a Markdown table of a recorded-video suite report (``LETHE_TEST_INTEGRATION_REPORT``).

LETHE_TEST_INTEGRATION_REPORT=report.jsonl pytest tests/integration
python -m tests.integration.summary report.jsonl
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def _number(value: Any, digits: int) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def table(entries: list[dict[str, Any]]) -> str:
    lines = [
        "| test | case | video | ID photo | exit | decision (reason) or error | score | threshold "
        "| s from first frame | s to decision | command s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for e in entries:
        if e.get("decision"):
            outcome = f"{e['decision']} ({e['reason']})"
        elif "committed" in e:
            outcome = "database: whole decision committed" if e["committed"] else "database: nothing committed"
        else:
            outcome = f"error `{e.get('error')}`"
        lines.append(
            f"| {e['test'].rsplit('::', 1)[-1]} | {e['case']} | {e.get('video', '')} | {e.get('id_photo', '')} "
            f"| {e.get('exit_status', '')} | {outcome} | {_number(e.get('score'), 3)} "
            f"| {_number(e.get('threshold'), 3)} | {_number(e.get('seconds_from_first_frame'), 1)} "
            f"| {_number(e.get('seconds_to_decision'), 1)} "
            f"| {_number(e.get('wall_s'), 1)} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    print(table([json.loads(line) for line in Path(sys.argv[1]).read_text().splitlines() if line.strip()]))
