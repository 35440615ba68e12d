"""``lethe bench``: the statistics of a row, and a real (short) run of the envelope benchmark."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from lethe.bench import Row, table
from lethe.cli import main


def test_row_reports_median_quartiles_minimum_and_command() -> None:
    row = Row("seal", [0.004, 0.001, 0.003, 0.002, 0.005], "lethe bench envelope")
    assert row.cells() == ["seal", "3.0 ms", "2.0 ms – 4.0 ms", "1.0 ms", "5", "`lethe bench envelope`"]
    assert Row("size", [2447.0], "x", unit="B").cells()[1:4] == ["2,447 B", "—", "—"]
    assert table([row]).splitlines()[2].startswith("| seal | 3.0 ms |")


def test_envelope_benchmark_measures_both_kems() -> None:
    result = CliRunner().invoke(main, ["bench", "envelope", "--samples", "3", "--batch", "2"])
    assert result.exit_code == 0, result.output
    for what in ("seal, x25519", "open, mlkem768-x25519", "Ed25519 verify"):
        assert f"| {what}" in result.output
    assert "`lethe bench envelope --samples 3 --batch 2`" in result.output
    # The hybrid KEM's encapsulated key is 1,120 bytes against X25519's 32.
    assert "| envelope size, mlkem768-x25519 | 2,447 B |" in result.output
    assert "| envelope size, x25519 | 1,359 B |" in result.output
    assert "Machine: " in result.output


def test_all_writes_one_report(tmp_path: Path) -> None:
    out = tmp_path / "bench.md"
    result = CliRunner().invoke(main, ["bench", "all", "--only", "envelope", "--out", str(out)])
    assert result.exit_code == 0, result.output
    report = out.read_text()
    assert report.startswith("# Lethe benchmarks")
    assert report.count("Machine: ") == 1
    assert "## Envelope seal and open per KEM" in report
    assert "Check-in end to end" not in report


def test_all_refuses_an_unknown_benchmark() -> None:
    result = CliRunner().invoke(main, ["bench", "all", "--only", "nope"])
    assert result.exit_code == 2
    assert "unknown benchmark(s): nope" in result.output
