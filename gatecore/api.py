"""The public API for plugin authors. Import from here (and ``hookimpl`` from ``gatecore``)."""

from __future__ import annotations

from typing import Any

from gatecore import hookimpl
from gatecore.cargo import container_check_digit, normalise_plate, valid_container_code
from gatecore.config import (
    ConfigModel,
    DeviceConfig,
    EvidenceConfig,
    Identifier,
    LaneConfig,
    PolicyConfig,
    SecretRef,
)
from gatecore.devices import (
    Aspect,
    Barrier,
    BarrierMoved,
    BarrierPosition,
    Camera,
    Device,
    DeviceContext,
    DeviceError,
    DeviceEvent,
    DeviceOffline,
    DeviceOnline,
    Display,
    Lights,
    Presence,
    PresenceChanged,
    Reader,
    Scanned,
)
from gatecore.evidence import EvidenceSource, TransactionContext
from gatecore.notify import Notifier
from gatecore.outbox import Outbox, OutboxStatus, OutRecord, Transport, TransportError
from gatecore.privacy import DROPS, FLAG, NUMBER, REF, Codes, Group, Reports, error_text, keyed_ref
from gatecore.profile import Profile, ProfileError, ProfileIssue
from gatecore.site import Site, SiteError
from gatecore.stash import Stash, StashKey
from gatecore.types import (
    FAULT_KINDS,
    OFFICER_EVENT_KINDS,
    Decision,
    Evidence,
    Fault,
    LaneState,
    LaneStateChange,
    Observation,
    OfficerEvent,
    Outcome,
    PartnerMessage,
    SharedState,
    Stamp,
    Vote,
    new_id,
    officer_problem,
)
from gatecore.views import LaneInfo, LaneView, SiteView

#: Exit code of a command given an invalid profile.
EXIT_INVALID = 2


def open_profile(path: str) -> tuple[Profile, Any]:
    """Load and validate a profile with the plugins it asks for (as ``gatecore run`` does): returns the
    profile and its plugin manager; raises :class:`ProfileError`. For plugins' own sub-commands."""
    from gatecore.cli import load  # the CLI owns the manager-per-profile logic

    return load(path)


__all__ = [
    "Aspect", "Barrier", "BarrierMoved", "BarrierPosition", "Camera", "Codes", "ConfigModel", "container_check_digit",
    "Decision", "Device", "DeviceConfig", "DeviceContext", "DeviceError", "DeviceEvent", "DeviceOffline",
    "DeviceOnline", "Display", "DROPS", "error_text", "Evidence", "EvidenceConfig", "EvidenceSource", "EXIT_INVALID",
    "FLAG", "Fault", "FAULT_KINDS", "Group", "hookimpl", "Identifier", "keyed_ref", "LaneConfig", "LaneInfo",
    "LaneView", "LaneState", "LaneStateChange", "Lights", "Notifier", "new_id", "normalise_plate", "NUMBER",
    "Observation", "OFFICER_EVENT_KINDS", "officer_problem", "OfficerEvent", "open_profile", "Outbox", "OutboxStatus",
    "Outcome", "OutRecord", "PartnerMessage", "PolicyConfig", "Presence", "PresenceChanged", "Profile",
    "ProfileError", "ProfileIssue", "Reader", "REF", "Reports", "Scanned", "SecretRef", "SharedState", "Site",
    "SiteError", "SiteView", "Stamp", "Stash", "StashKey", "TransactionContext", "Transport", "TransportError",
    "valid_container_code", "Vote",
]
