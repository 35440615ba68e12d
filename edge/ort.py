"""Importing onnxruntime without its telemetry.

The onnxruntime wheels (1.32 here) start Microsoft's 1DS telemetry when the
module is imported: they write a device id under
``~/.cache/Microsoft/DeveloperTools/.onnxruntime`` and are built to send events
to ``mobile.events.data.microsoft.com``. A kiosk must write nothing and talk to
nobody but its service, so every import of onnxruntime in Lethe goes through
:func:`onnxruntime` here, which sets ``ORT_DISABLE_TELEMETRY=1`` first (the
switch the library reads at import) and turns telemetry events off as well.
``tests/integration/test_kiosk_privacy.py`` checks that nothing is written.
"""

from __future__ import annotations

import os
from typing import Any

from edge.errors import ConfigurationError


def onnxruntime() -> Any:
    """The onnxruntime module, imported with telemetry disabled; a clear error when it is not installed."""
    os.environ["ORT_DISABLE_TELEMETRY"] = "1"
    try:
        import onnxruntime as ort
    except ImportError:
        raise ConfigurationError("onnxruntime is not installed: pip install onnxruntime") from None
    ort.disable_telemetry_events()
    return ort


def session(path: str, *, threads: int) -> Any:
    """An onnxruntime CPU session on ``threads`` intra-op threads, run sequentially, quiet.

    The CPU memory arena is off: with it, onnxruntime keeps the largest
    intermediate buffers it has seen for the process's life (tens of MB for
    small models fed one image at a time) for no measurable speed-up here.
    """
    ort = onnxruntime()
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    options.enable_cpu_mem_arena = False
    return ort.InferenceSession(path, sess_options=options, providers=["CPUExecutionProvider"])
