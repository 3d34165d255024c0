"""gate_igv: fleet control of the bridge's IGVs over VDA 5050 (2.0, 2.1 and 3.0), dispatched by a cargo
lane's PASS, handed over to the partner side at the bridge's hand-over point; and a VDA 5050 vehicle
simulator (:mod:`gate_igv.vehicle_sim`). The hooks are in :mod:`gate_igv.plugin`; see README.md."""

from __future__ import annotations

from gate_igv.plugin import (
    gatecore_add_commands,
    gatecore_check_profile,
    gatecore_config_section,
    gatecore_partner_receive,
    gatecore_report_decision,
    gatecore_site_setup,
    gatecore_site_start,
    gatecore_site_stop,
    gatecore_summary,
)

__all__ = [
    "gatecore_add_commands", "gatecore_check_profile", "gatecore_config_section", "gatecore_partner_receive",
    "gatecore_report_decision", "gatecore_site_setup", "gatecore_site_start", "gatecore_site_stop",
    "gatecore_summary",
]
