"""The ``[plugins.gate_ioc]`` profile section. Everything is checked by ``gatecore check``: the broker URL,
that TLS files exist and parse, and that every secret reference can be read."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from gatecore.api import ConfigModel, SecretRef

SCHEMES = {"mqtt": 1883, "tcp": 1883, "mqtts": 8883, "ssl": 8883}


def _readable_file(value: str | None, what: str) -> str | None:
    if value is None:
        return None
    path = Path(value)
    if not path.is_file():
        raise ValueError(f"{what} {value} does not exist or is not a file")
    try:
        path.read_bytes()
    except OSError as exc:
        raise ValueError(f"{what} {value} cannot be read: {exc.strerror}") from None
    return value


class TlsConfig(ConfigModel):
    ca_file: str | None = Field(None, description="PEM bundle of CAs that sign the broker (default: system CAs)")
    cert_file: str | None = Field(None, description="client certificate (PEM), for brokers that require one")
    key_file: str | None = Field(None, description="client key (PEM); default: inside cert_file")

    @field_validator("ca_file")
    @classmethod
    def _ca(cls, value: str | None) -> str | None:
        if _readable_file(value, "CA file") is not None:
            try:
                ssl.create_default_context(cafile=value)
            except ssl.SSLError as exc:
                raise ValueError(f"CA file {value} is not a PEM certificate bundle ({exc.reason})") from None
        return value

    @field_validator("cert_file")
    @classmethod
    def _cert(cls, value: str | None) -> str | None:
        return _readable_file(value, "client certificate")

    @field_validator("key_file")
    @classmethod
    def _key(cls, value: str | None) -> str | None:
        return _readable_file(value, "client key")

    @model_validator(mode="after")
    def _pair(self) -> TlsConfig:
        if self.key_file and not self.cert_file:
            raise ValueError("key_file is set without cert_file")
        if self.cert_file:
            try:
                ssl.create_default_context().load_cert_chain(self.cert_file, self.key_file)
            except ssl.SSLError as exc:
                raise ValueError(f"client certificate and key do not load ({exc.reason})") from None
        return self


class OutboxConfig(ConfigModel):
    path: str = Field("var/ioc-outbox.sqlite", description="SQLite file of the outbox (relative to the cwd)")
    budget_mb: float = Field(256.0, gt=0, description="disk budget; beyond it telemetry is dropped, oldest first")
    retention_h: float = Field(168.0, ge=0, description="keep delivered records this long for --replay")
    window: int = Field(256, ge=1, le=16384, description="records in flight at once")
    batch: int = Field(64, ge=1, le=4096, description="records per transport call")
    synchronous: Literal["full", "normal"] = Field(
        "full", description="'full' survives power loss (fsync per group commit); 'normal' survives a crash"
    )


class ShareConfig(ConfigModel):
    """Shared state (face galleries, watchlists) to and from the other controllers, signed with Ed25519."""

    trusted_keys: str = Field(description='JSON file {"keys": {KEY_ID: base64 Ed25519 public key}}: whose '
                                          "updates are applied")
    signing_key: SecretRef | None = Field(
        None, description="this site's Ed25519 private key (PEM), 'file:PATH' or 'env:NAME'; without it, it "
                          "only receives")
    key_id: str | None = Field(None, min_length=1, max_length=64, description="the id of signing_key in trust lists")

    @field_validator("trusted_keys")
    @classmethod
    def _trusted(cls, value: str) -> str:
        from .share import load_trusted  # cryptography is imported only when sharing is configured

        load_trusted(value)
        return value

    @model_validator(mode="after")
    def _signer(self) -> ShareConfig:
        from .share import load_signer

        if (self.signing_key is None) != (self.key_id is None):
            raise ValueError("signing_key and key_id go together")
        if self.signing_key is not None and self.signing_key.check() is None:
            load_signer(self.signing_key.reveal())
        return self


class AckConfig(ConfigModel):
    """The IOC acknowledges what it has stored (``gatecore.ioc.ack/1`` on ``{prefix}/{site}/{lane}/ack``):
    each decision, fault and state change stays in the outbox until an acknowledgement covers it."""

    timeout_s: float = Field(10.0, gt=0, le=600, description="a lane whose acknowledgement has not moved for "
                             "this long while records wait gets them sent again")


class IocSection(ConfigModel):
    """Reporting to the operations centre: decisions, faults, lane states and heartbeats."""

    transport: Literal["mqtt", "local"] = Field("local", description="'mqtt' to a broker, 'local' to a JSONL file")
    broker: str | None = Field(None, description="broker URL: mqtt://host:port or mqtts://host:port")
    protocol: Literal["3.1.1", "5"] = Field("3.1.1", description="MQTT protocol version")
    client_id: str | None = Field(None, max_length=128, description="MQTT client id (default: gatecore-<site>)")
    keepalive_s: int = Field(30, ge=5, le=3600)
    username: str | None = Field(None, description="broker user name")
    password: SecretRef | None = Field(None, description="broker password: 'env:NAME' or 'file:PATH'")
    tls: TlsConfig | None = Field(None, description="TLS settings (mqtts:// uses TLS with system CAs without it)")
    topic_prefix: str = Field("gatecore/v1", pattern=r"^[^#+\x00]+$", description="versioned topic root")
    qos: Literal[1, 2] = 1
    payload: Literal["single", "batch"] = Field(
        "single", description="'batch' packs consecutive records of a lane into one gatecore.ioc.batch/1 message"
    )
    batch_max: int = Field(100, ge=1, le=10_000)
    heartbeat_s: float = Field(10.0, ge=0.5, le=3600, description="period of lane heartbeats")
    doc_salt: SecretRef | None = Field(
        None, description="salt for hashing document numbers; without it they are left out of reports"
    )
    local_path: str = Field("var/ioc.jsonl", description="file the local transport appends to")
    outbox: OutboxConfig = Field(default_factory=OutboxConfig)
    share: ShareConfig | None = Field(None, description="shared state with the other controllers (MQTT only)")
    ack: AckConfig | None = Field(None, description="wait for the IOC's acknowledgement (MQTT only), not only the "
                                                    "broker's PUBACK")

    @field_validator("broker")
    @classmethod
    def _broker(cls, value: str | None) -> str | None:
        if value is None:
            return None
        url = urlsplit(value)
        if url.scheme not in SCHEMES:
            raise ValueError(f"broker URL {value!r}: scheme must be one of {', '.join(sorted(SCHEMES))}")
        try:
            port = url.port
        except ValueError:
            raise ValueError(f"broker URL {value!r}: the port is not a number in 1-65535") from None
        if not url.hostname:
            raise ValueError(f"broker URL {value!r} has no host")
        if port == 0 or url.path not in ("", "/") or url.query or url.fragment:
            raise ValueError(f"broker URL {value!r}: expected mqtt[s]://host[:port] and nothing more")
        if url.username or url.password:
            raise ValueError("put credentials in 'username' and 'password' (a secret reference), not in the URL")
        return value

    @model_validator(mode="after")
    def _needs_broker(self) -> IocSection:
        if self.transport == "mqtt" and self.broker is None:
            raise ValueError("transport 'mqtt' needs 'broker' (e.g. mqtts://ioc.example:8883)")
        if self.password is not None and self.username is None:
            raise ValueError("'password' is set without 'username'")
        if self.share is not None and self.transport != "mqtt":
            raise ValueError("'share' needs transport 'mqtt': shared state travels over the broker")
        if self.ack is not None and self.transport != "mqtt":
            raise ValueError("'ack' needs transport 'mqtt': the IOC acknowledges over the broker")
        return self

    def endpoint(self) -> tuple[str, int, bool]:
        """(host, port, tls) of the broker."""
        url = urlsplit(self.broker or "mqtt://localhost")
        tls = url.scheme in ("mqtts", "ssl") or self.tls is not None
        return url.hostname or "localhost", url.port or SCHEMES[url.scheme], tls
