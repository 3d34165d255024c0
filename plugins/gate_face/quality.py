"""Quality gates on a detected face, before any matching."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

Array = np.ndarray[Any, Any]


@dataclass(frozen=True)
class QualityLimits:
    min_eye_distance_px: float = 30.0
    min_sharpness: float = 40.0  # variance of the Laplacian of the aligned grey crop
    max_yaw_deg: float = 30.0
    max_roll_deg: float = 25.0
    max_pitch: float = 0.35  # nose height between eyes and mouth, 0 = midway


@dataclass(frozen=True)
class Quality:
    eye_distance_px: float
    sharpness: float
    yaw_deg: float
    roll_deg: float
    pitch: float

    def failures(self, limits: QualityLimits) -> list[str]:
        """Names of the gates this face fails (empty when it passes)."""
        out = []
        if self.eye_distance_px < limits.min_eye_distance_px:
            out.append("too_small")
        if self.sharpness < limits.min_sharpness:
            out.append("blurry")
        if (abs(self.yaw_deg) > limits.max_yaw_deg or abs(self.roll_deg) > limits.max_roll_deg
                or abs(self.pitch) > limits.max_pitch):
            out.append("pose")
        return out


def pose(landmarks: Array) -> tuple[float, float, float]:
    """(yaw degrees, roll degrees, pitch) estimated from five landmarks.

    Roll is the angle of the eye line.  Yaw is from the nose's sideways offset from the
    eye/mouth mid-line, relative to half the eye distance (a frontal face gives 0, a nose
    over one eye about 90).  Pitch is the nose's height between the eye and mouth lines,
    0 when midway, -0.5 at the eyes, +0.5 at the mouth.
    """
    p = np.asarray(landmarks, np.float64)
    le, re_, nose, lm, rm = p
    eye_vec = re_ - le
    roll = math.degrees(math.atan2(eye_vec[1], eye_vec[0]))
    c, s = math.cos(math.radians(-roll)), math.sin(math.radians(-roll))
    rot = np.array([[c, -s], [s, c]])
    le, re_, nose, lm, rm = (rot @ (q - p.mean(axis=0)) for q in (le, re_, nose, lm, rm))
    half = max((re_[0] - le[0]) / 2.0, 1e-6)
    mid_x = (le[0] + re_[0] + lm[0] + rm[0]) / 4.0
    yaw = math.degrees(math.asin(max(-1.0, min(1.0, (nose[0] - mid_x) / half))))
    eye_y, mouth_y = (le[1] + re_[1]) / 2.0, (lm[1] + rm[1]) / 2.0
    span = mouth_y - eye_y
    pitch = (nose[1] - (eye_y + mouth_y) / 2.0) / span if span > 1e-6 else 1.0
    return yaw, roll, pitch


#: the frontal face's nose-base drop below the eye line, over the eye distance, in dlib's 5-point
#: template (:data:`gate_face.chips.TEMPLATE_5`)
FRONTAL_NOSE_DROP = 0.7735


def pose_eyes_nose(left_eye: Array, right_eye: Array, nose: Array) -> tuple[float, float, float]:
    """(yaw degrees, roll degrees, pitch) from eye centres and the base of the nose (dlib's 5 points have
    no mouth).  Roll and yaw as :func:`pose` (yaw from the nose's offset from the eyes' mid-point);
    pitch is the nose's drop below the eye line against a frontal face's, 0 when frontal, negative when
    the head bows (the nose base rises toward the eyes), positive when it tilts back."""
    le, re_, nose = (np.asarray(q, np.float64) for q in (left_eye, right_eye, nose))
    eye_vec = re_ - le
    roll = math.degrees(math.atan2(eye_vec[1], eye_vec[0]))
    dist = max(float(np.hypot(*eye_vec)), 1e-6)
    u = eye_vec / dist                    # along the eye line
    n = np.array([-u[1], u[0]])           # down the face
    rel = nose - (le + re_) / 2
    yaw = math.degrees(math.asin(max(-1.0, min(1.0, float(rel @ u) / (dist / 2)))))
    pitch = float(rel @ n) / dist / FRONTAL_NOSE_DROP - 1.0
    return yaw, roll, pitch


def sharpness(aligned: Array) -> float:
    grey = cv2.cvtColor(aligned, cv2.COLOR_BGR2GRAY) if aligned.ndim == 3 else aligned
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def assess(landmarks: Array, aligned: Array) -> Quality:
    """Quality of a face with the five ArcFace-order landmarks (eye centres, nose tip, mouth corners)."""
    p = np.asarray(landmarks, np.float64)
    yaw, roll, pitch = pose(p)
    return Quality(float(np.linalg.norm(p[1] - p[0])), sharpness(aligned), yaw, roll, pitch)


def assess_eyes_nose(left_eye: Array, right_eye: Array, nose: Array, aligned: Array) -> Quality:
    """Quality of a face known by its eye centres and nose base (dlib's 5-point model)."""
    yaw, roll, pitch = pose_eyes_nose(left_eye, right_eye, nose)
    return Quality(float(np.linalg.norm(np.asarray(right_eye, np.float64) - left_eye)), sharpness(aligned),
                   yaw, roll, pitch)
