"""Is the face in this frame printed on a document? The card-shaped outline around it.

At the kiosk's ID stage the portrait must be found *inside* a document: a
card-shaped quadrilateral (ID-1 is 85.6 × 54 mm, 1.586:1; a passport's photo
page 125 × 88 mm, 1.42:1) that is wholly in view, contains the face box, and is
much wider than the face (a document's face is a fifth to a third of its width;
:data:`MIN_FACE_SHARE` to :data:`MAX_FACE_SHARE` allows for tilt and for a
passport opened flat). A live face filling the frame has no such outline around
it, and the outline of a head (an oval, with the face most of its width) is
neither rectangular nor wide enough.

The search is OpenCV's: Canny edges on a grey copy scaled to at most
:data:`SEARCH_WIDTH`, closed by one dilation, and their contours. A contour is
a card when its convex hull simplifies (``approxPolyDP``) to a convex
quadrilateral (perspective allowed; fingers on the edge only dent the contour,
which the hull bridges) whose mean side lengths are card-like
(:data:`MIN_ASPECT` to :data:`MAX_ASPECT`, wide enough for a card seen at an
angle), that does not touch the frame's border (the whole document in view),
that holds the face box's central part (:data:`FACE_MARGIN`), and whose own
points lie mostly (:data:`MIN_OUTLINE`) on the quadrilateral's sides: the
outline of one object, not a cluttered patch of a scene (a person in front of
shelves) whose hull happens to be boxy. The smallest such card is kept.

This tells a document from a bare face. It does not tell a genuine document
from a printed photo cut to card shape, or from a phone's screen showing a
face: anything with a face inside a card-like frame passes.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edge.backends import FaceBox
from edge.sources import Image

SEARCH_WIDTH = 640
MIN_ASPECT, MAX_ASPECT = 1.3, 1.9
APPROX_EPSILON = 0.03  # of the hull's perimeter
MIN_OUTLINE = 0.75  # share of the contour's points on the quadrilateral's sides
OUTLINE_PX = 3.0  # how near a side counts as on it, plus 2% of the long side
MIN_FACE_SHARE, MAX_FACE_SHARE = 0.1, 0.5
BORDER_PX = 2
FACE_MARGIN = 0.2  # the box's outer fifth may overlap the card's edge (a detector's box is loose)


@dataclass(frozen=True)
class Document:
    """The card-shaped outline found around the face, in full-resolution pixels (geometry only)."""

    corners: tuple[tuple[float, float], ...]
    width_px: float
    height_px: float

    @property
    def aspect(self) -> float:
        return self.width_px / self.height_px


def _segment_distances(points: np.ndarray, quad: np.ndarray) -> np.ndarray:
    """Each point's distance to the nearest side of ``quad`` (closed polygon), vectorised."""
    starts, ends = quad, np.roll(quad, -1, axis=0)
    direction = ends - starts
    length2 = np.maximum((direction**2).sum(axis=1), 1e-9)
    offset = points[:, None, :] - starts[None, :, :]
    along = np.clip((offset * direction[None]).sum(axis=2) / length2[None], 0.0, 1.0)
    nearest = starts[None] + along[..., None] * direction[None]
    distances: np.ndarray = np.sqrt(((points[:, None, :] - nearest) ** 2).sum(axis=2)).min(axis=1)
    return distances


def find_document(image: Image, face: FaceBox) -> Document | None:
    """The smallest card-shaped outline in ``image`` that holds ``face`` as a document portrait, or None."""
    height, width = image.shape[:2]
    scale = min(1.0, SEARCH_WIDTH / width)
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    if scale < 1.0:
        grey = cv2.resize(grey, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)
    small_h, small_w = grey.shape[:2]
    edges = cv2.Canny(cv2.GaussianBlur(grey, (5, 5), 0), 40, 120)
    edges = cv2.dilate(edges, np.ones((3, 3), np.uint8))
    contours, _ = cv2.findContours(edges, cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    face_w, face_h = (face.right - face.left) * scale, (face.bottom - face.top) * scale
    left, top = face.left * scale + FACE_MARGIN * face_w, face.top * scale + FACE_MARGIN * face_h
    right, bottom = face.right * scale - FACE_MARGIN * face_w, face.bottom * scale - FACE_MARGIN * face_h
    box = ((left, top), (right, top), (right, bottom), (left, bottom))
    best: tuple[float, Document] | None = None
    for contour in contours:
        if len(contour) < 4 * face_w:  # shorter than a card around this face could be
            continue
        hull = cv2.convexHull(contour)
        quad = cv2.approxPolyDP(hull, APPROX_EPSILON * cv2.arcLength(hull, True), True)
        if len(quad) != 4 or not cv2.isContourConvex(quad):
            continue
        corners = quad.reshape(4, 2).astype(np.float64)
        sides = np.linalg.norm(corners - np.roll(corners, -1, axis=0), axis=1)
        side_a, side_b = (sides[0] + sides[2]) / 2, (sides[1] + sides[3]) / 2
        long_side, short_side = max(side_a, side_b), min(side_a, side_b)
        if short_side < 1 or not MIN_ASPECT <= long_side / short_side <= MAX_ASPECT:
            continue
        if not MIN_FACE_SHARE <= face_w / long_side <= MAX_FACE_SHARE:
            continue
        xs, ys = corners[:, 0], corners[:, 1]
        if (
            min(xs.min(), ys.min()) < BORDER_PX
            or xs.max() > small_w - 1 - BORDER_PX
            or ys.max() > small_h - 1 - BORDER_PX
        ):
            continue
        if any(cv2.pointPolygonTest(quad, (float(x), float(y)), False) < 0 for x, y in box):
            continue
        near = _segment_distances(contour.reshape(-1, 2).astype(np.float64), corners) <= OUTLINE_PX + 0.02 * long_side
        if near.mean() < MIN_OUTLINE:  # the contour is the card's outline, not a cluttered blob that happens to be boxy
            continue
        area = long_side * short_side
        if best is None or area < best[0]:
            found = tuple((float(x) / scale, float(y) / scale) for x, y in corners)
            best = (area, Document(found, long_side / scale, short_side / scale))
    return None if best is None else best[1]
