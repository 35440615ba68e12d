"""Template encoding: round trips and strict decoding."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from protocol import InvalidTemplate, Template, decode_template, encode_template

finite = st.floats(min_value=-1e3, max_value=1e3, allow_nan=False, width=32)


@given(
    vector=arrays(np.float32, st.integers(1, 512), elements=finite).filter(lambda v: np.linalg.norm(v) > 1e-3),
    model=st.from_regex(r"[a-z0-9][a-z0-9._-]{0,20}", fullmatch=True),
)
def test_round_trip(vector: np.ndarray, model: str) -> None:
    template = Template.from_embedding(model, vector)
    decoded = decode_template(encode_template(template))
    assert decoded.model_id == model
    assert np.array_equal(decoded.vector, template.vector)
    assert abs(float(np.linalg.norm(decoded.vector)) - 1) < 1e-3


def good() -> bytes:
    return encode_template(Template.from_embedding("dlib-resnet-v1", np.arange(1, 129)))


def test_exact_length_is_required() -> None:
    data = good()
    for bad in (data[:-1], data + b"\x00", data[:4], b""):
        with pytest.raises(InvalidTemplate):
            decode_template(bad)


def test_unknown_version_and_dtype() -> None:
    for offset in (0, 1):
        data = bytearray(good())
        data[offset] = 7
        with pytest.raises(InvalidTemplate, match="unknown"):
            decode_template(bytes(data))


def test_values_must_be_finite_and_normalised() -> None:
    data = bytearray(good())
    head = 5 + len("dlib-resnet-v1")
    struct.pack_into("<f", data, head, 5.0)
    with pytest.raises(InvalidTemplate, match="normalised"):
        decode_template(bytes(data))
    struct.pack_into("<f", data, head, float("nan"))
    with pytest.raises(InvalidTemplate, match="non-finite"):
        decode_template(bytes(data))


def test_bad_model_ids_and_zero_vectors() -> None:
    with pytest.raises(InvalidTemplate):
        Template.from_embedding("Has Spaces", np.ones(4))
    with pytest.raises(InvalidTemplate):
        Template.from_embedding("ok", np.zeros(4))


def test_repr_hides_the_vector() -> None:
    template = Template.from_embedding("dlib-resnet-v1", np.arange(1, 129))
    assert repr(template) == "Template(model_id='dlib-resnet-v1', dim=128)"
    assert not template.vector.flags.writeable
