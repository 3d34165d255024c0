"""gate_face: face verification (1:1) and watchlist / residents search (1:N) for gatecore lanes.

The hooks live in :mod:`gate_face.plugin`; the engine is ``EmbeddingIndex``
(:mod:`gate_face.index`) and ``FacePipeline`` (:mod:`gate_face.pipeline`).
See README.md beside this file.
"""

from __future__ import annotations

from gate_face.plugin import (
    gatecore_add_commands,
    gatecore_apply_state,
    gatecore_check_profile,
    gatecore_config_section,
    gatecore_evidence_kinds,
    gatecore_make_evidence_source,
    gatecore_site_setup,
    gatecore_site_start,
    gatecore_site_stop,
    gatecore_vote,
)

__all__ = [
    "gatecore_add_commands", "gatecore_apply_state",
    "gatecore_check_profile", "gatecore_config_section", "gatecore_evidence_kinds",
    "gatecore_make_evidence_source", "gatecore_site_setup", "gatecore_site_start", "gatecore_site_stop",
    "gatecore_vote",
]
