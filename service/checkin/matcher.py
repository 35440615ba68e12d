"""1:1 comparison of two templates of the same model, against that model's threshold.

There is deliberately no 1:N search: the service compares a live template with
one reference (the ID template in the envelope, or the stay's stored template).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.registry import DEFAULT_TARGET_FMR, Manifest, ModelError
from protocol import Template
from service.errors import ModelMismatch, UnknownModel


@dataclass(frozen=True)
class Match:
    model_id: str
    score: float
    threshold: float

    @property
    def is_match(self) -> bool:
        return self.score >= self.threshold


def cosine(a: Template, b: Template) -> float:
    """Cosine similarity of two L2-normalised templates, in [-1, 1]."""
    return float(np.dot(a.vector.astype(np.float64), b.vector.astype(np.float64)))


def compare(live: Template, reference: Template, manifest: Manifest, target_fmr: float = DEFAULT_TARGET_FMR) -> Match:
    """Compare ``live`` with ``reference`` at the live model's threshold calibrated for ``target_fmr``.

    ``target_fmr`` is the property's operating point (``service.property.Matching``).
    """
    if live.model_id != reference.model_id or live.dimension != reference.dimension:
        raise ModelMismatch()
    try:
        threshold = manifest.threshold(live.model_id, target_fmr)
    except ModelError:
        raise UnknownModel(f"model {live.model_id!r} has no threshold calibrated for FMR {target_fmr:g}") from None
    return Match(live.model_id, round(cosine(live, reference), 6), threshold)
