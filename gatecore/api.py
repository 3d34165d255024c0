"""The public API for plugin authors. Import from here (and ``hookimpl`` from ``gatecore``)."""

from __future__ import annotations

from gatecore import hookimpl
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
from gatecore.lane import Lane, LaneInfo
from gatecore.plugins import call_all
from gatecore.profile import Profile, ProfileError, ProfileIssue
from gatecore.site import Site, SiteError
from gatecore.stash import Stash, StashKey
from gatecore.types import (
    Decision,
    Evidence,
    Fault,
    LaneState,
    LaneStateChange,
    Observation,
    Outcome,
    SharedState,
    Stamp,
    Vote,
    new_id,
)

__all__ = [
    "Aspect", "Barrier", "BarrierMoved", "BarrierPosition", "Camera", "ConfigModel", "Decision", "Device",
    "DeviceConfig", "DeviceContext", "DeviceError", "DeviceEvent", "DeviceOffline", "DeviceOnline", "Display",
    "Evidence", "EvidenceConfig", "EvidenceSource", "Fault", "Identifier", "Lane", "LaneConfig", "LaneInfo",
    "LaneState", "LaneStateChange", "Lights", "Observation", "Outcome", "PolicyConfig", "Presence",
    "PresenceChanged", "Profile", "ProfileError", "ProfileIssue", "Reader", "Scanned", "SecretRef", "Site",
    "SharedState",
    "SiteError", "Stamp", "Stash", "StashKey", "TransactionContext", "Vote", "call_all", "hookimpl", "new_id",
]
