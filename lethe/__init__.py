"""Lethe: privacy-preserving face check-in for hotels.

This package holds only what spans the parts: the ``lethe`` command line, the
demo, the evaluations and the benchmarks. The parts themselves are the
``protocol``, ``edge``, ``service``, ``models`` and ``config`` packages.
"""

import os
from importlib.metadata import version

# Before anything can import onnxruntime: its wheels otherwise write a device id under
# ~/.cache and are built to send telemetry to Microsoft (see edge/ort.py).
os.environ["ORT_DISABLE_TELEMETRY"] = "1"

__version__ = version("lethe-checkin")
