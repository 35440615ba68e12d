"""PostgreSQL schemas of their own for tests (``LETHE_TEST_DATABASE_URL``), so parallel runs never collide."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable

import pytest
from sqlalchemy import create_engine, text

POSTGRES_ENV = "LETHE_TEST_DATABASE_URL"


def postgres_base() -> str:
    """The PostgreSQL URL the tests may use; the test is skipped without one."""
    base = os.environ.get(POSTGRES_ENV)
    if not base:
        pytest.skip(f"{POSTGRES_ENV} is not set")
    return base


def new_schema(base: str) -> tuple[str, Callable[[], None]]:
    """A PostgreSQL schema of its own under ``base``: its URL, and the function that drops it."""
    schema = f"lethe_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))

    def drop() -> None:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    separator = "&" if "?" in base else "?"
    return f"{base}{separator}options=-csearch_path%3D{schema}", drop
