"""The ID record: the portrait on an ID document (or an ID photo file) turned into a template."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge.backends import Embedder
from edge.errors import MultipleFacesInIdImage, NoFaceInIdImage
from edge.quality import Detector
from edge.sources import read_image
from protocol import Template

ID_DETECT_WIDTH = 1024


def id_template_from_image(backend: Embedder, path: Path, *, jitters: int) -> Template:
    """Template the single portrait in the image at ``path``.

    Detection upsamples once (ID portraits are small); embedding re-samples the
    face ``jitters`` times, worth it once per check-in rather than per frame.
    """
    image = read_image(path)
    faces = Detector(backend, max_width=ID_DETECT_WIDTH, upsample=1)(image)
    if not faces:
        raise NoFaceInIdImage(f"no face found in the ID image {path.name}")
    if len(faces) > 1:
        raise MultipleFacesInIdImage(f"{len(faces)} faces found in the ID image {path.name}; it must show one")
    rgb = np.ascontiguousarray(image[:, :, ::-1])
    return Template.from_embedding(backend.model_id, backend.embed(rgb, faces[0], jitters=jitters))
