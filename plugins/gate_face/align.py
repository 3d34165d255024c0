"""Five-point similarity alignment to the embedders' 112 x 112 input.

Landmark order everywhere: left eye, right eye, nose tip, left mouth corner, right mouth
corner (as seen in the image).  The reference positions are the ArcFace convention, which
SFace shares.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from gate_face.quality import Quality, assess

Array = np.ndarray[Any, Any]

REFERENCE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
     [41.5493, 92.3655], [70.7299, 92.2041]], dtype=np.float64)


def similarity(src: Array, dst: Array) -> Array:
    """The 2 x 3 least-squares similarity (rotation, uniform scale, shift) taking src to dst.

    Umeyama's closed form; reflections are excluded.
    """
    s = np.asarray(src, np.float64)
    d = np.asarray(dst, np.float64)
    if s.shape != d.shape or s.ndim != 2 or s.shape[1] != 2 or s.shape[0] < 2:
        raise ValueError("similarity needs two matching (n, 2) point sets, n >= 2")
    ms, md = s.mean(axis=0), d.mean(axis=0)
    sc, dc = s - ms, d - md
    var = (sc**2).sum() / len(s)
    if var == 0:
        raise ValueError("degenerate landmarks (all at one point)")
    cov = dc.T @ sc / len(s)
    u, sig, vt = np.linalg.svd(cov)
    e = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        e[1, 1] = -1
    rot = u @ e @ vt
    scale = float(np.trace(np.diag(sig) @ e)) / var
    m = np.empty((2, 3))
    m[:, :2] = scale * rot
    m[:, 2] = md - scale * rot @ ms
    return m


def align(image: Array, landmarks: Array, size: int = 112) -> Array:
    """Warp ``image`` so that ``landmarks`` land on the reference points scaled to ``size``."""
    ref = REFERENCE_112 * (size / 112.0)
    m = similarity(landmarks, ref)
    out: Array = cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_CONSTANT)
    return out


class ArcFaceGeometry:
    """The crop and quality of the opencv and insightface families: five ArcFace-order landmarks,
    similarity-aligned to the reference points at the embedder's size."""

    def __init__(self, size: int = 112) -> None:
        self.size = size

    def crop(self, image: Array, landmarks: Array) -> Array:
        return align(image, landmarks, self.size)

    def quality(self, landmarks: Array, crop: Array) -> Quality:
        return assess(landmarks, crop)
