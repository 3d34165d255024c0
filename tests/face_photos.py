"""Real photographs for the dlib family's tests, from packages the dev extra installs, each within its
licence, and what a gate camera would make of them.

* ``astronaut``: Eileen Collins, NASA (scikit-image ``data.astronaut``: "no known copyright
  restrictions, released into the public domain");
* ``camera``: a man with a camera (scikit-image ``data.camera``: "CC0 by the photographer, Lav Varshney");
* ``hopper``: Grace Hopper, the US Navy's official portrait (matplotlib ``sample_data/grace_hopper.jpg``;
  a work of the US federal government, in the public domain).

No package ships two photographs of one of them, so a person's "other photo" here is another capture of
the same photograph: placed in a 640 x 480 frame at another size and position, turned, lit and focused
differently, JPEG-compressed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import matplotlib
import numpy as np
from skimage import data

from gate_face.testing import photo_frame

Array = np.ndarray[Any, Any]


@dataclass(frozen=True)
class Photo:
    name: str
    image: Array                    # BGR, as cv2 reads a file
    face: tuple[int, int, int, int]  # dlib's detection in it: left, top, right, bottom


def photos() -> dict[str, Photo]:
    hopper = cv2.imread(str(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"), cv2.IMREAD_COLOR)
    camera = cv2.cvtColor(data.camera(), cv2.COLOR_GRAY2BGR)
    return {"astronaut": Photo("astronaut", np.ascontiguousarray(data.astronaut()[:, :, ::-1]), (168, 69, 263, 164)),
            "camera": Photo("camera", camera, (180, 116, 259, 195)),
            "hopper": Photo("hopper", hopper, (191, 146, 355, 310))}


def capture(photo: Photo, face_px: float = 150, **how: Any) -> Array:
    """A 640 x 480 frame of ``photo`` as a gate camera might take it (:func:`gate_face.testing.photo_frame`)."""
    return photo_frame(photo.image, photo.face, face_px, **how)


#: the other captures of each person: sizes across an e-gate's range, turned, darker and brighter,
#: soft, noisy, compressed
CAPTURES = (dict(face_px=120, angle=-6, shift=(-60, 10), gain=0.8, jpeg=70),
            dict(face_px=170, angle=5, shift=(40, -20), gain=1.15, blur=1.0, jpeg=60),
            dict(face_px=230, angle=2, shift=(10, 15), noise=6, seed=1, jpeg=80),
            dict(face_px=140, angle=-3, shift=(90, 0), gain=0.65, noise=4, seed=2))
