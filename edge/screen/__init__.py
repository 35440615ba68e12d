"""The guest's screen: a local web page the kiosk serves on 127.0.0.1 for a browser in kiosk mode.

``lethe kiosk screen`` serves one guest per run: the kiosk gets ready (or shows
"out of order" and retries), the attract screen waits for the booking QR, and
the flow the guest chose runs to a final screen (:mod:`edge.screen.guest`).
The page (``static/``) is pushed the state (:mod:`edge.screen.state`) by the
server (:mod:`edge.screen.web`) and speaks English and Simplified Chinese
(:mod:`edge.screen.texts`). Nothing is kept on the kiosk: the camera preview is
the latest frame, in memory, for loopback clients only.
"""

from edge.screen.guest import Backoff, run_guest
from edge.screen.state import GuestScreen
from edge.screen.texts import TEXTS
from edge.screen.web import create_screen_app, serve

__all__ = ["TEXTS", "Backoff", "GuestScreen", "create_screen_app", "run_guest", "serve"]
