"""Which service and which CA the kiosk's client uses."""

from __future__ import annotations

import uuid
from pathlib import Path

from edge.client import ServiceClient
from edge.identity import KioskIdentity
from edge.settings import KioskSettings
from protocol import SigningKey

IDENTITY = KioskIdentity(uuid.uuid4(), SigningKey.generate(), "https://checkin.hotel.example")


def test_the_kiosk_talks_to_the_service_it_registered_with() -> None:
    client = ServiceClient.from_settings(KioskSettings.from_env({}), IDENTITY)
    assert client.base_url == "https://checkin.hotel.example"  # not the loopback default


def test_a_service_url_setting_wins_over_the_registration() -> None:
    settings = KioskSettings.from_env({"LETHE_KIOSK_SERVICE_URL": "https://other.example"})
    assert ServiceClient.from_settings(settings, IDENTITY).base_url == "https://other.example"


def test_the_ca_file_setting_is_what_the_client_verifies_with(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    settings = KioskSettings.from_env({"LETHE_KIOSK_CA_FILE": str(ca)})
    assert ServiceClient.from_settings(settings)._verify == str(ca)
    assert ServiceClient.from_settings(KioskSettings.from_env({}))._verify is True
