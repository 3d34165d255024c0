"""The ``[plugins.gate_igv]`` profile section: the fleet broker, the yard (graph, stations, vehicle types),
the per-lane dispatch rules, the fleet, and the time limits of the fault handling. What one model can check
is checked here; what needs the whole yard (an edge to a node that does not exist, a station nobody can
reach, an action the standard does not define) is :mod:`gate_igv.yard`'s, at ``gatecore check``."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from gatecore.api import ConfigModel, Identifier, SecretRef

from .versions import VersionName
from .zones import ZonesConfig

VdaId = str  # ids on the wire: A-Z a-z 0-9 _ - . : (section 6.1.2 of 2.1, 7.1.2 of 3.0)
_VDA_ID = r"^[A-Za-z0-9_.:\-]{1,64}$"
ParamValue = str | float | int | bool | list[str | float | int | bool]


class NodeConfig(ConfigModel):
    id: VdaId = Field(pattern=_VDA_ID, description="node id, as it goes in orders")
    x: float = Field(allow_inf_nan=False, description="m, in the map's coordinates")
    y: float = Field(allow_inf_nan=False)
    theta: float | None = Field(None, ge=-3.14159265359, le=3.14159265359, description="rad, if the vehicle must")
    map_id: VdaId | None = Field(None, pattern=_VDA_ID, description="default: the yard's map_id")
    deviation_m: float = Field(0.5, ge=0, le=100, description="allowed deviation: within it the node is traversed")


class EdgeConfig(ConfigModel):
    id: VdaId = Field(pattern=_VDA_ID)
    start: VdaId = Field(description="node id")
    end: VdaId = Field(description="node id")
    two_way: bool = Field(False, description="also from end to start (as edge '<id>.r')")
    max_speed: float | None = Field(None, gt=0, le=30, description="m/s")
    vehicle_types: tuple[Identifier, ...] = Field((), description="the vehicle types that may use it (default: all)")


class ActionConfig(ConfigModel):
    type: str = Field(description="a predefined VDA 5050 action: pick, drop, finePositioning, startCharging, ...")
    blocking: Literal["NONE", "SOFT", "SINGLE", "HARD"] = Field("HARD", description="blockingType")
    parameters: dict[str, ParamValue] = Field(default_factory=dict, description="actionParameters, key = value")


class StationConfig(ConfigModel):
    node: VdaId = Field(description="the node the station is at")
    kind: Literal["lane_exit", "inspection", "handover", "parking", "charging"]
    actions: tuple[ActionConfig, ...] = Field((), description="executed on the node when a trip stops here")


class YardConfig(ConfigModel):
    map_id: VdaId = Field(pattern=_VDA_ID, description="the map every node is on unless it says otherwise")
    nodes: tuple[NodeConfig, ...] = Field(min_length=1)
    edges: tuple[EdgeConfig, ...] = ()
    stations: dict[Identifier, StationConfig] = Field(default_factory=dict)
    vehicle_types: tuple[Identifier, ...] = Field(("default",), min_length=1)


class DispatchRule(ConfigModel):
    lane: Identifier = Field(description="the cargo lane whose PASS dispatches a vehicle")
    stops: tuple[Identifier, ...] = Field(min_length=1, description="stations in order: the first is where the "
                                          "load is picked; a trip ending at a handover station is handed over")
    vehicle_type: Identifier | None = Field(None, description="only vehicles of this type (default: any)")


class VehicleConfig(ConfigModel):
    manufacturer: VdaId = Field(pattern=_VDA_ID)
    serial: VdaId = Field(pattern=_VDA_ID)
    version: VersionName | None = Field(None, description="VDA 5050 version; default: what its messages carry")
    type: Identifier = "default"


class TimingConfig(ConfigModel):
    ack_s: float = Field(2.0, gt=0, le=60, description="wait this long for state to show an order or action")
    resends: int = Field(3, ge=0, le=20, description="send an unacknowledged order or instant action again so often")
    cancel_s: float = Field(15.0, gt=0, le=600, description="wait this long for a cancelOrder to finish")
    progress_s: float = Field(60.0, gt=0, le=3600, description="a trip with no progress for this long fails")
    trip_s: float = Field(900.0, gt=0, le=86400, description="a trip that has not ended by then fails")
    reconnect_s: float = Field(15.0, ge=0, le=3600, description="wait this long for a vehicle that lost its "
                               "connection to come back before its trip fails")
    estop_s: float = Field(30.0, ge=0, le=3600, description="a trip whose vehicle stays in e-stop longer fails")
    vehicle_s: float = Field(120.0, gt=0, le=86400, description="a trip that finds no vehicle for this long fails")


class RecordsConfig(ConfigModel):
    """Trip records: committed to a durable outbox, delivered to the broker or appended to a file."""

    transport: Literal["mqtt", "local"] = Field("local", description="'mqtt': the fleet broker; 'local': a file")
    path: str = Field("var/igv-outbox.sqlite", description="SQLite file of the outbox")
    local_path: str = Field("var/igv-trips.jsonl", description="file the local transport appends to")
    journal: str = Field("", description="directory of the trips under way and the vehicles handed over, which a "
                         "restarted controller resumes from; default: the outbox's path + '.journal'")
    topic_prefix: str = Field("gatecore/v1", pattern=r"^[^#+\x00]+$", description="records go to "
                              "{topic_prefix}/{site}/{lane}/igv-trip")


class IgvSection(ConfigModel):
    """Fleet control of the bridge's IGVs over VDA 5050."""

    transport: Literal["mqtt", "local"] = Field("local", description="'mqtt': a broker; 'local': in this process "
                                                "(the simulated vehicles of 'simulate')")
    broker: str | None = Field(None, description="mqtt://host:port or mqtts://host:port")
    client_id: str | None = Field(None, max_length=128, description="default: gatecore-igv-<site>")
    username: str | None = None
    password: SecretRef | None = Field(None, description="'env:NAME' or 'file:PATH'")
    ca_file: str | None = Field(None, description="CA bundle of the broker (mqtts)")
    interface_name: VdaId = Field("uagv", pattern=r"^[A-Za-z0-9_.\-]{1,64}$", description="first topic level")
    schemas: str | None = Field(None, description="directory of the official VDA 5050 schemas (2.0.0/, 2.1.0/, "
                                "3.0.0/); default: the search path in the plugin's README")
    yard: YardConfig
    dispatch: tuple[DispatchRule, ...] = ()
    fleet: tuple[VehicleConfig, ...] = ()
    simulate: tuple[VehicleConfig, ...] = Field((), description="simulated vehicles run by the plugin (the demo); "
                                                "they are of the fleet too")
    sim_speed: float = Field(2.0, gt=0, le=100, description="m/s of simulated vehicles")
    sim_start: tuple[VdaId, ...] = Field((), description="nodes the simulated vehicles start at (default: parking)")
    min_charge: float = Field(30.0, ge=0, le=100, description="percent a vehicle needs to be dispatched")
    join_m: float = Field(25.0, ge=0, le=1000, description="a vehicle off the graph is sent to the nearest node "
                          "first if it is this close (else it is not dispatched)")
    base_nodes: int = Field(3, ge=1, le=100, description="nodes released ahead of a vehicle")
    horizon_nodes: int = Field(2, ge=0, le=100, description="nodes announced beyond the base")
    attempts: int = Field(3, ge=1, le=10, description="vehicles tried for one trip before it fails")
    timing: TimingConfig = Field(default_factory=TimingConfig)
    zones: ZonesConfig | None = Field(None, description="a zone set for the 3.0 vehicles: RELEASE zones held "
                                      "by one vehicle at a time")
    records: RecordsConfig = Field(default_factory=RecordsConfig)

    @field_validator("broker")
    @classmethod
    def _broker(cls, value: str | None) -> str | None:
        if value is None:
            return None
        url = urlsplit(value)
        if url.scheme not in ("mqtt", "mqtts") or not url.hostname or url.path not in ("", "/"):
            raise ValueError(f"broker URL {value!r}: expected mqtt://host[:port] or mqtts://host[:port]")
        try:
            url.port  # noqa: B018 - raises on a bad port
        except ValueError:
            raise ValueError(f"broker URL {value!r}: the port is not a number in 1-65535") from None
        return value

    @model_validator(mode="after")
    def _needs(self) -> IgvSection:
        if self.transport == "mqtt" and self.broker is None:
            raise ValueError("transport 'mqtt' needs 'broker' (e.g. mqtt://127.0.0.1:1883)")
        if self.records.transport == "mqtt" and self.transport != "mqtt":
            raise ValueError("records.transport 'mqtt' needs transport 'mqtt' (records go to the fleet broker)")
        if self.password is not None and self.username is None:
            raise ValueError("'password' is set without 'username'")
        return self

    def endpoint(self) -> tuple[str, int, bool]:
        url = urlsplit(self.broker or "mqtt://127.0.0.1")
        tls = url.scheme == "mqtts"
        return url.hostname or "127.0.0.1", url.port or (8883 if tls else 1883), tls
