"""Check-in at a kiosk: devices and their signed requests, the replay cache, sessions, consent, liveness policy,
lockout, the 1:1 match, the verification of a sealed envelope, and the staff override. No Flask here.
"""
