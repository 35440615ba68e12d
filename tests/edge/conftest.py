from __future__ import annotations

from collections.abc import Iterator

import pytest

from edge.backends import Embedder, create_backend


@pytest.fixture(scope="session")
def dlib_backend(data_mirror) -> Iterator[Embedder]:
    return create_backend("dlib")
