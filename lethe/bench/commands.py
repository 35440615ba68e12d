"""``lethe bench`` with every benchmark attached (imported when ``lethe bench`` runs: it needs every extra)."""

from __future__ import annotations

from lethe.bench import bench
from lethe.bench import service as bench_service
from lethe.bench.kiosk import kiosk as bench_kiosk
from lethe.bench.screen import screen as bench_screen

for _command in (bench_kiosk, bench_screen, *bench_service.COMMANDS):  # lethe bench kiosk | screen | verify | purge
    bench.add_command(_command)

__all__ = ["bench"]
