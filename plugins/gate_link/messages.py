"""The messages of the link: JSON objects, one model per kind, each with a schema version.

Every message carries ``schema`` (``gatecore.link.KIND/1``), ``id`` (a UUID, the idempotency key), ``from``
and ``to`` (the parties), ``created`` (when it was made) and, on the wire, ``sent`` (when this
transmission was signed: a message sent again is signed again, with the same id) and ``signature``.
The JSON Schemas in ``schemas/`` are made from these models (``python -m gate_link.schemas``) and the
tests check both ends against them. Times are RFC 3339 in UTC (``2026-11-27T18:00:00.123Z``); numbers
are integers only, so that the RFC 8785 form of a message is the same in every language.

Updates are ordered: a manifest per consignment, a clearance per consignment (or vehicle), a hand-over
per IGV trip, a lane status per lane; each carries a ``version`` that grows with every update of its
subject, and a receiver applies one only if it is newer than what it holds (:func:`subject`).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from gatecore.api import new_id, valid_container_code

VERSION = 1
KINDS = ("manifest", "clearance", "handover", "lane-status", "receipt")
Kind = Literal["manifest", "clearance", "handover", "lane-status", "receipt"]
#: the largest message a receiver reads (bytes)
MAX_BYTES = 16_384
MAX_VERSION = 2**53 - 1

TIME_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$"


def schema_id(kind: str) -> str:
    return f"gatecore.link.{kind}/{VERSION}"


def _time(text: str) -> str:
    try:
        datetime.fromisoformat(text)
    except ValueError:
        raise ValueError("not a time of the calendar") from None
    return text


def _container(code: str) -> str:
    if not valid_container_code(code):
        raise ValueError("not an ISO 6346 container code with a right check digit")
    return code


Party = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.\-]{0,63}$", description="a party: 'mong-cai', 'dongxing'")]
Time = Annotated[str, Field(pattern=TIME_PATTERN, max_length=32, description="RFC 3339 time in UTC"),
                 AfterValidator(_time)]
MessageId = Annotated[str, Field(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")]
Ref = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:/\-]{0,63}$", description="an id of the exchange")]
Code = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_.\-]{0,63}$")]
Version = Annotated[int, Field(ge=1, le=MAX_VERSION, description="grows with every update of the subject")]
Plate = Annotated[str, Field(pattern=r"^[^\x00-\x1f\x7f]{1,20}$", description="as printed; compared normalised")]
ContainerCode = Annotated[str, Field(pattern=r"^[A-Z]{4}[ \-]?\d{6}[ \-]?\d$", description="ISO 6346, e.g. "
                                     "CSQU3054383; the check digit is checked"), AfterValidator(_container)]
Seal = Annotated[str, Field(pattern=r"^[A-Za-z0-9\-]{1,32}$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=True)


class Signature(_Model):
    suite: Literal["ed25519", "sm2"]
    kid: Ref = Field(description="the signing key's id in the sender's trust list")
    value: str = Field(pattern=r"^[A-Za-z0-9+/]{1,200}={0,2}$", description="base64 of the signature")


class Message(_Model):
    """What every message carries. ``sent`` and ``signature`` are on every message that travels; a
    message without them is an unsigned draft (``gatecore link example``)."""

    schema_: str = Field(alias="schema")
    id: MessageId
    from_: Party = Field(alias="from")
    to: Party
    created: Time
    sent: Time | None = Field(None, description="when this transmission was signed")
    signature: Signature | None = None


class Vehicle(_Model):
    plates: list[Plate] = Field(min_length=1, max_length=4, description="tractor and trailer plates")


class Container(_Model):
    code: ContainerCode
    seals: list[Seal] = Field(default_factory=list, max_length=8)


class Manifest(Message):
    """A pre-arrival declaration of a consignment, from the partner before the truck reaches the bridge."""

    schema_: Literal["gatecore.link.manifest/1"] = Field(alias="schema")
    consignment: Ref
    version: Version
    valid_until: Time = Field(description="the manifest covers a crossing until then")
    vehicle: Vehicle
    containers: list[Container] = Field(max_length=4)
    driver_doc_ref: Ref = Field(description="a reference to the driver's document, never its number")
    flagged: bool = Field(description="the partner flags the consignment: the lane denies it")


class Clearance(Message):
    """A clearance decision on a consignment (or a vehicle without one), at a lane."""

    schema_: Literal["gatecore.link.clearance/1"] = Field(alias="schema")
    consignment: Ref | None = None
    plate: Plate | None = None
    version: Version
    lane: Ref
    outcome: Literal["pass", "deny", "refer"]
    reasons: list[Code] = Field(default_factory=list, max_length=16)
    decided: Time


class Handover(Message):
    """An IGV trip reaching or leaving the bridge's hand-over point."""

    schema_: Literal["gatecore.link.handover/1"] = Field(alias="schema")
    trip: Ref
    version: Version
    igv: Ref
    event: Literal["arrived", "departed"]
    point: Ref
    at: Time
    consignment: Ref | None = None
    containers: list[ContainerCode] = Field(default_factory=list, max_length=4)


class LaneStatus(Message):
    """A lane opened, closed or degraded."""

    schema_: Literal["gatecore.link.lane-status/1"] = Field(alias="schema")
    lane: Ref
    version: Version
    status: Literal["open", "closed", "degraded"]
    at: Time


class Receipt(Message):
    """A signed acknowledgement of one message: applied, or already held (duplicate), or older than what
    is held (stale). A sender is done with a message once its receipt has arrived."""

    schema_: Literal["gatecore.link.receipt/1"] = Field(alias="schema")
    of: MessageId
    of_kind: Literal["manifest", "clearance", "handover", "lane-status"]
    status: Literal["applied", "duplicate", "stale"]


MODELS: dict[str, type[Message]] = {"manifest": Manifest, "clearance": Clearance, "handover": Handover,
                                    "lane-status": LaneStatus, "receipt": Receipt}
BY_SCHEMA = {schema_id(kind): model for kind, model in MODELS.items()}
KIND_OF = {schema_id(kind): kind for kind in MODELS}


def kind_of(message: Message) -> str:
    return KIND_OF[message.schema_]


def subject(message: Message) -> str | None:
    """The subject whose updates are ordered by ``version`` (``None``: a receipt, not ordered)."""
    if isinstance(message, Manifest):
        return f"consignment:{message.consignment}"
    if isinstance(message, Clearance):
        return f"consignment:{message.consignment}" if message.consignment else f"plate:{message.plate}"
    if isinstance(message, Handover):
        return f"trip:{message.trip}"
    if isinstance(message, LaneStatus):
        return f"lane:{message.lane}"
    return None


def time_text(t: float) -> str:
    """``t`` (epoch s) as a message time, to the millisecond."""
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_time(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def draft(kind: str, frm: str, to: str, created: float, **fields: Any) -> dict[str, Any]:
    """An unsigned message of ``kind`` as a dict (``fields``: its own), checked against its model."""
    message = {"schema": schema_id(kind), "id": str(uuid.UUID(new_id())), "from": frm, "to": to,
               "created": time_text(created), **fields}
    MODELS[kind].model_validate(message)
    return message


def example(kind: str, now: float) -> dict[str, Any]:
    """A valid unsigned example of ``kind`` (``gatecore link example KIND``)."""
    t = time_text(now)
    fields: dict[str, dict[str, Any]] = {
        "manifest": {"consignment": "DX-2026-000123", "version": 1, "valid_until": time_text(now + 86_400),
                     "vehicle": {"plates": ["桂A12345", "桂A6789挂"]},
                     "containers": [{"code": "CSQU3054383", "seals": ["CN1234567"]}],
                     "driver_doc_ref": "doc-7f3a9c", "flagged": False},
        "clearance": {"consignment": "DX-2026-000123", "version": 1, "lane": "cargo-in-1", "outcome": "pass",
                      "reasons": ["matched"], "decided": t},
        "handover": {"trip": "igv-7/000045", "version": 1, "igv": "igv-7", "event": "arrived", "point": "bridge-km0",
                     "at": t, "consignment": "DX-2026-000123", "containers": ["CSQU3054383"]},
        "lane-status": {"lane": "cargo-in-1", "version": 1, "status": "open", "at": t},
        "receipt": {"of": "0190f5c2-7a1b-7c3d-9e4f-0123456789ab", "of_kind": "manifest", "status": "applied"},
    }
    frm, to = ("mong-cai", "dongxing") if kind in ("clearance", "lane-status") else ("dongxing", "mong-cai")
    return draft(kind, frm, to, now, **fields[kind])
