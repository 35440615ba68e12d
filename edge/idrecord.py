"""The ID record: the portrait on an ID document turned into a template.

Two ways in: an image file (the front-desk station's scan, :func:`id_template_from_image`),
or the kiosk's camera, with the guest holding the document's photo page up to it
(:func:`id_template_from_source`). Either way the one face found is templated as
the live face is (same backend, the face embedded from the full-resolution image),
with ``jitters`` re-samplings, worth it once per check-in rather than per frame.

From the camera, every frame goes through detection, a document check and a
quality gate adapted to a printed portrait: exactly one face (the document, not
the guest behind it), found inside a card-shaped outline wholly in view and much
wider than the face (:func:`edge.document.find_document`: a guest who shows
their own face instead of the document is refused with ``no-document``), at
least :data:`ID_MIN_FACE_PX` wide, sharp enough, neither dark nor washed out by
glare. Pose and eyes are not judged (the document photo is what it is). The
sharpest of the first :data:`ID_GOOD_FRAMES` good frames is templated; frames
stay in memory and are dropped as soon as they are judged.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.backends import Embedder, FaceBox
from edge.document import find_document
from edge.errors import (
    IdImageUnreadable,
    MultipleFacesInIdImage,
    NoFaceInIdImage,
    NoFaceInIdPhoto,
    NoIdDocument,
    SourceError,
)
from edge.quality import Detector, QualityGate, Verdict
from edge.sources import FrameSource, Image, read_image
from protocol import Template

ID_DETECT_WIDTH = 1024
ID_MIN_FACE_PX = 40  # an ID-1 card's portrait (about 25 mm wide) held 30-40 cm from a 640x480 webcam: 45-60 px
ID_GOOD_FRAMES = 3
# What the guest is told while holding the document up, per refusal of the gate.
ID_GUIDANCE = {
    "no-face": "Hold the photo page of your ID document up to the camera.",
    "no-document": "Hold your ID document up to the camera, the whole document in view.",
    "multiple-faces": "Hold the ID document closer, so that only its photo is in view.",
    "face-too-small": "Hold the ID document closer to the camera.",
    "too-blurry": "Hold the ID document still.",
    "too-dark": "More light on the ID document, please.",
    "too-bright": "Tilt the ID document a little: there is glare on it.",
    "low-contrast": "More light on the ID document, please.",
}


def _template(backend: Embedder, image: Image, face: FaceBox, jitters: int) -> Template:
    rgb = np.ascontiguousarray(image[:, :, ::-1])
    return Template.from_embedding(backend.model_id, backend.embed(rgb, face, jitters=jitters))


def id_template_from_image(backend: Embedder, path: Path, *, jitters: int) -> Template:
    """Template the single portrait in the image at ``path``.

    Detection upsamples once (ID portraits are small).
    """
    if not path.is_file():
        raise IdImageUnreadable(f"the ID image {path} does not exist")
    try:
        image = read_image(path)
    except SourceError:
        raise IdImageUnreadable(f"the ID image {path} is not a readable image") from None
    faces = Detector(backend, max_width=ID_DETECT_WIDTH, upsample=1)(image)
    if not faces:
        raise NoFaceInIdPhoto(f"no face found in the ID image {path.name}")
    if len(faces) > 1:
        raise MultipleFacesInIdImage(f"{len(faces)} faces found in the ID image {path.name}; it must show one")
    return _template(backend, image, faces[0], jitters)


@dataclass(frozen=True)
class IdCapture:
    """The document portrait's template and how it was found (counts only, no image data)."""

    template: Template
    frames_seen: int
    good_frames: int


def id_template_from_source(
    backend: Embedder,
    source: FrameSource,
    *,
    jitters: int,
    min_sharpness: float,
    max_seconds: float,
    on_guidance: Callable[[str], None] | None = None,
) -> IdCapture:
    """Template the portrait of the ID document the guest holds up to ``source`` (an opened frame source).

    Reads until :data:`ID_GOOD_FRAMES` frames pass the document gate, the
    source ends, or ``max_seconds`` of its clock. Of the frames that showed a
    face, raises :class:`MultipleFacesInIdImage` when several faces were what
    kept them out most often, :class:`NoIdDocument` when it was a face with no document
    around it (a live face shown instead of the document), else
    :class:`NoFaceInIdImage`, each with what to do.
    """
    detect = Detector(backend, max_width=ID_DETECT_WIDTH, upsample=1)
    gate = QualityGate(min_face_px=ID_MIN_FACE_PX, min_sharpness=min_sharpness)
    refusals: Counter[str] = Counter()
    best: tuple[float, Image, FaceBox] | None = None
    seen = good = 0
    said = ""
    for frame in source.frames():
        if frame.timestamp_s > max_seconds:
            break
        seen += 1
        faces = detect(frame.image)
        verdict = gate.assess(frame.image, faces)
        if len(faces) == 1 and find_document(frame.image, faces[0]) is None:
            verdict = Verdict("no-document")
        message = ""
        if not verdict.ok or verdict.quality is None:
            reason = verdict.reason or "no-face"
            refusals[reason] += 1
            message = ID_GUIDANCE.get(reason, ID_GUIDANCE["no-face"])
        else:
            good += 1
            quality = verdict.quality
            if best is None or quality.sharpness > best[0]:
                best = (quality.sharpness, frame.image, quality.face)
        if on_guidance is not None and message != said:
            on_guidance(message)
            said = message
        if good >= ID_GOOD_FRAMES:
            break
    if best is None:
        # A face seen, however rarely, says more than the frames with none (the guest turning or stepping in).
        faced = Counter({reason: count for reason, count in refusals.items() if reason != "no-face"})
        reason = (faced or refusals).most_common(1)[0][0] if refusals else "no-face"
        detail = f"no usable ID portrait in {seen} frames: {ID_GUIDANCE.get(reason, ID_GUIDANCE['no-face'])}"
        if reason == "multiple-faces":
            raise MultipleFacesInIdImage(detail)
        if reason == "no-document":
            raise NoIdDocument(detail)
        raise NoFaceInIdImage(detail)
    template = _template(backend, best[1], best[2], jitters)
    return IdCapture(template, seen, good)
