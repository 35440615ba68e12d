"""The service's keys: the key folder and the keyring loaded from it (``folder``), rotation, re-wrapping and
retirement (``rotation``), staff TOTP secrets sealed under the staff-secret key (``staff_secrets``).
"""

from service.keyring.folder import KINDS, KeyFile, Keyring, KeyringError, add_key, load_or_create, read_key_files

__all__ = ["KINDS", "KeyFile", "Keyring", "KeyringError", "add_key", "load_or_create", "read_key_files"]
