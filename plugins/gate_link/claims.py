"""The plates and container codes read on a lane, as the plate evidence hands them to the link: one place
that says which claims are read, so that the two plugins can be aligned here.

The shape expected in ``Evidence.claims`` of the lane's plate source (``plates_from``)::

    {"plates": [{"text": "51G-123.45", "confidence": 0.97}, ...],
     "codes": [{"text": "CSQU3054383", "confidence": 0.91}, ...]}

A plain string in place of each ``{"text": ...}`` is taken too. Plates are compared after
``gatecore.api.normalise_plate``, codes after the same normalisation (separators and case).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from gatecore.api import normalise_plate

PLATES = "plates"
CODES = "codes"


def _texts(items: Any) -> list[str]:
    if not isinstance(items, Iterable) or isinstance(items, str | bytes | Mapping):
        return []
    out = []
    for item in items:
        text = item.get("text") if isinstance(item, Mapping) else item
        if isinstance(text, str) and (norm := normalise_plate(text)):
            out.append(norm)
    return out


def read(claims: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """(plates, container codes) in ``claims``, normalised; what is not of the shape above is left out."""
    return _texts(claims.get(PLATES)), _texts(claims.get(CODES))


def make(plates: Iterable[str], codes: Iterable[str], confidence: float = 1.0) -> dict[str, Any]:
    """Claims of this shape (for simulated and test plate sources)."""
    return {PLATES: [{"text": p, "confidence": confidence} for p in plates],
            CODES: [{"text": c, "confidence": confidence} for c in codes]}
