"""The plates and container codes read on a lane, as the plate evidence hands them to the link: the one
place that says which claims are read.

In ``Evidence.claims`` of the lane's plate source (``plates_from``) and container source (``codes_from``,
the same source by default), either shape is taken::

    {"plates": [{"text": "51G-123.45", "confidence": 0.97}, ...],     # every plate read
     "codes": [{"text": "CSQU3054383", "confidence": 0.91}, ...]}     # every container code read

    {"text": "51G12345", ...}                                         # gate_plate's plate.vehicle: its best read
    {"codes": ["CSQU3054383", ...], ...}                              # gate_plate's plate.container: the sure ones

A plain string in place of each ``{"text": ...}`` is taken too. Plates are compared after
``gatecore.api.normalise_plate``, codes after the same normalisation (separators and case).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from gatecore.api import normalise_plate

PLATES = "plates"
CODES = "codes"
TEXT = "text"


def _texts(items: Any) -> list[str]:
    if not isinstance(items, Iterable) or isinstance(items, str | bytes | Mapping):
        return []
    out = []
    for item in items:
        text = item.get("text") if isinstance(item, Mapping) else item
        if isinstance(text, str) and (norm := normalise_plate(text)):
            out.append(norm)
    return out


def plates(claims: Mapping[str, Any]) -> list[str]:
    """The plates read in ``claims``, normalised; what is not of the shapes above is left out."""
    if PLATES in claims:
        return _texts(claims[PLATES])
    return _texts([claims[TEXT]]) if isinstance(claims.get(TEXT), str) else []


def codes(claims: Mapping[str, Any]) -> list[str]:
    """The container codes read in ``claims``, normalised."""
    return _texts(claims.get(CODES))


def read(claims: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """(plates, container codes) in one source's ``claims``."""
    return plates(claims), codes(claims)


def make(plates: Iterable[str], codes: Iterable[str], confidence: float = 1.0) -> dict[str, Any]:
    """Claims of this shape (for simulated and test plate sources)."""
    return {PLATES: [{"text": p, "confidence": confidence} for p in plates],
            CODES: [{"text": c, "confidence": confidence} for c in codes]}
