"""Lethe: privacy-preserving face check-in for hotels.

This package holds only what spans the parts: the ``lethe`` command line, the
environment-settings loader and the demo. The parts themselves are the
``protocol``, ``edge``, ``service`` and ``models`` packages.
"""

import os

# Before anything can import onnxruntime: its wheels otherwise write a device id under
# ~/.cache and are built to send telemetry to Microsoft (see edge/ort.py).
os.environ["ORT_DISABLE_TELEMETRY"] = "1"

__version__ = "0.1.0"
