"""What the tests share, importable (never imported from a ``conftest.py`` or from another test module).

- ``service``: acting on the service in process (PMS, kiosk, staff), and problem answers;
- ``deployment``: the real service process and the real ``lethe`` commands on recorded media;
- ``browser``: headless Chromium;
- ``idcard``: an ID card drawn in memory around a portrait.

The fixtures that hand them to tests are in ``tests/conftest.py``.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the project folder
