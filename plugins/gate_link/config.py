"""The ``[plugins.gate_link]`` section and the evidence kinds. ``gatecore check`` checks everything that needs
no broker: the broker URL, that the TLS files exist and load, that the signing key (a secret reference)
loads and is of a known suite, that the trust list verifies with the trust root, that the state directory
can be used."""

from __future__ import annotations

import os
import ssl
from pathlib import Path
from typing import ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from gatecore.api import NUMBER, REF, ConfigModel, EvidenceConfig, Identifier, Reports, SecretRef

from .messages import Party, Ref
from .suites import KeyError_, load_private
from .trust import TrustError, TrustList, load_root

SCHEMES = {"mqtt": 1883, "mqtts": 8883}
#: what transport "mqtt" needs and "local" does not use
_MQTT_ONLY = ("broker", "tls", "signing_key", "key_id", "trust_list", "trust_root")
#: why the manifest evidence says what it says (the codes its reason takes)
MANIFEST_REASONS = ("matched", "no_plates", "no_manifest", "expired", "plate_mismatch", "container_mismatch",
                    "container_unreadable", "flagged")


def _file(value: str, what: str) -> str:
    path = Path(value)
    if not path.is_file() or not os.access(path, os.R_OK):
        raise ValueError(f"{what} {value} does not exist or cannot be read")
    return value


class TlsConfig(ConfigModel):
    """Mutual TLS with the link's broker: both sides present a certificate."""

    ca_file: str = Field(description="PEM bundle of the CAs that sign the broker's certificate")
    cert_file: str = Field(description="this side's client certificate (PEM)")
    key_file: str | None = Field(None, description="this side's TLS key (PEM file); default: inside cert_file")

    @model_validator(mode="after")
    def _loads(self) -> TlsConfig:
        for value, what in ((self.ca_file, "CA file"), (self.cert_file, "client certificate"),
                            (self.key_file, "TLS key")):
            if value is not None:
                _file(value, what)
        try:
            ssl.create_default_context(cafile=self.ca_file).load_cert_chain(self.cert_file, self.key_file)
        except ssl.SSLError as exc:
            raise ValueError(f"the CA file, client certificate and key do not load ({exc.reason})") from None
        return self


class OutboxConfig(ConfigModel):
    window: int = Field(64, ge=1, le=4096, description="messages awaiting their receipt at once")
    batch: int = Field(16, ge=1, le=1024, description="messages per transport call")
    budget_mb: float = Field(256.0, gt=0, description="disk budget of the outbox (messages are never dropped)")
    synchronous: Literal["full", "normal"] = Field("full", description="'full' survives a power loss")


class SimulatorConfig(ConfigModel):
    """The partner simulator in this process, over the local transport (the demo): SIMULATED manifests."""

    seed: int = Field(1, description="seed of the simulated traffic")
    trucks: int = Field(200, ge=1, le=100_000, description="simulated trucks, each with its manifest lodged at start")
    no_manifest: float = Field(0.04, ge=0, le=1, description="share of trucks with no manifest")
    container_mismatch: float = Field(0.03, ge=0, le=1, description="share whose manifest names other containers")
    expired: float = Field(0.03, ge=0, le=1, description="share whose manifest has expired")
    flagged: float = Field(0.02, ge=0, le=1, description="share flagged by the partner")
    hand_back_s: float | None = Field(None, gt=0, le=3600, description="hand each IGV handed over to the partner "
                                      "back this long after it arrived (none: the partner keeps it)")
    fleet: str | None = Field(None, description="lodge the manifests of these trucks instead (a gate_link.fleet/1 "
                              "JSON file: consignment, plates, codes and case of each; the demo's world writes one)")

    @field_validator("fleet")
    @classmethod
    def _a_fleet(cls, path: str | None) -> str | None:
        if path is not None:
            from .sim import load_fleet

            load_fleet(path)  # a missing or malformed file is the profile's error, at this key
        return path


class LinkSection(ConfigModel):
    """The partner-gate link: signed, replay-proof, store-and-forward messages with the other side."""

    party: Party = Field("mong-cai", description="this side's party id")
    partner: Party = Field("dongxing", description="the partner's party id")
    transport: Literal["mqtt", "local"] = Field("local", description="'mqtt' over TLS to the link broker; "
                                                "'local': in this process, with the partner simulator")
    broker: str | None = Field(None, description="mqtts://host:port of the link broker")
    tls: TlsConfig | None = Field(None, description="mutual TLS (required with mqtt)")
    client_id: str | None = Field(None, max_length=128, description="MQTT client id (default gatecore-link-PARTY)")
    topic_prefix: str = Field("gatecore/link/v1", pattern=r"^[^#+\x00]+$")
    signing_key: SecretRef | None = Field(None, description="this side's private key (PKCS#8 PEM, Ed25519 or SM2): "
                                          "'file:PATH' or 'env:NAME'")
    key_id: Ref | None = Field(None, description="the signing key's id in the partner's trust list")
    trust_list: str | None = Field(None, description="the signed trust list of the partner's keys (JSON)")
    trust_root: str | None = Field(None, description="PEM public key of the root that signs the trust list")
    window_s: int = Field(300, ge=5, le=86_400, description="a message sent more than this far from our clock "
                          "is refused (skew); replays are remembered this long")
    receipt_timeout_s: float = Field(10.0, gt=0, le=600, description="a message not receipted in this time is "
                                     "sent again (signed again), after its subject's backoff")
    retention_h: float = Field(336.0, gt=0, description="message ids applied are remembered this long")
    state_dir: str = Field("var/gate_link", description="outbox and received state (relative to the cwd)")
    outbox: OutboxConfig = Field(default_factory=OutboxConfig)
    lane_status: bool = Field(True, description="tell the partner when a cargo lane opens, closes or degrades")
    simulator: SimulatorConfig | None = Field(None, description="run the partner simulator (local transport only)")

    @field_validator("broker")
    @classmethod
    def _broker(cls, value: str | None) -> str | None:
        if value is None:
            return None
        url = urlsplit(value)
        try:
            port = url.port
        except ValueError:
            raise ValueError(f"broker URL {value!r}: the port is not a number in 1-65535") from None
        if url.scheme not in SCHEMES or not url.hostname or port == 0 or url.path not in ("", "/") or url.query \
                or url.username or url.password:
            raise ValueError(f"broker URL {value!r}: expected mqtts://host[:port] (or mqtt://) and nothing more")
        return value

    @field_validator("trust_root")
    @classmethod
    def _root(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                load_root(value)
            except TrustError as exc:
                raise ValueError(str(exc)) from None
        return value

    @field_validator("state_dir")
    @classmethod
    def _dir(cls, value: str) -> str:
        path = Path(value).absolute()
        existing = next(p for p in (path, *path.parents) if p.exists())
        if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
            raise ValueError(f"{value} cannot be created or written by this process")
        return value

    @model_validator(mode="after")
    def _whole(self) -> LinkSection:
        if self.party == self.partner:
            raise ValueError("party and partner are the same")
        given = [k for k in _MQTT_ONLY if getattr(self, k) is not None]
        if self.transport == "mqtt":
            missing = [k for k in _MQTT_ONLY if k not in given]
            if missing:
                raise ValueError(f"transport 'mqtt' needs {', '.join(missing)}")
            if self.simulator is not None:
                raise ValueError("the partner simulator runs with transport 'local' only")
        elif given:
            raise ValueError(f"transport 'local' signs with keys made at start and talks to no broker: "
                             f"{', '.join(given)} would not be used")
        if self.signing_key is not None:
            try:
                load_private(self.signing_key.reveal().encode(), self.key_id or "")
            except KeyError_ as exc:
                raise ValueError(f"signing_key: {exc}") from None
        if self.trust_list is not None:
            try:
                TrustList.load(self.trust_list, self.trust_root)
            except TrustError as exc:
                raise ValueError(str(exc)) from None
        return self

    def endpoint(self) -> tuple[str, int]:
        url = urlsplit(self.broker or "mqtts://localhost")
        return url.hostname or "localhost", url.port or SCHEMES[url.scheme]


class ManifestEvidenceConfig(EvidenceConfig):
    """A cargo crossing's pre-arrival manifest: the plates and container codes read on the lane (the
    evidence of ``plates_from``) against the manifests the partner lodged. PASS only with a matching,
    unexpired manifest; REFER when none matches, with the reason; DENY when the partner flagged it."""

    reports: ClassVar[Reports] = Reports(MANIFEST_REASONS, consignment=REF, version=NUMBER, plates_read=NUMBER,
                                         containers_read=NUMBER, containers_expected=NUMBER)
    kind: Literal["link.manifest"]
    plates_from: Identifier = Field("plate", description="the lane's evidence source that reads the plates")
    codes_from: Identifier | None = Field(None, description="the lane's evidence source that reads the container "
                                          "codes (default: plates_from)")


class SimPlatesConfig(EvidenceConfig):
    """SIMULATED plate and container-code reads: the next truck of the partner simulator's traffic."""

    reports: ClassVar[Reports] = Reports(("simulated",), plates=NUMBER, containers=NUMBER)
    kind: Literal["link.sim_plates"]
