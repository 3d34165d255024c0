"""The ``[plugins.gate_console]`` profile section. ``gatecore check`` refuses what the console would: a
listen address that is a wildcard, not of this machine, or not a loopback one without TLS; TLS files that
do not load; an accounts file that cannot be read or is not well formed; no account at all."""

from __future__ import annotations

import ipaddress
import socket
import ssl
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from gatecore.api import ConfigModel

from .accounts import ROLES, AccountsError, read_accounts

ReasonCode = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
AccountName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._@-]{0,63}$")]


class TlsFiles(ConfigModel):
    """The console's certificate and key (PEM): the console then speaks HTTPS only."""

    cert_file: str = Field(description="certificate chain (PEM)")
    key_file: str = Field(description="private key (PEM, not encrypted; readable by the controller only)")

    @model_validator(mode="after")
    def _loads(self) -> TlsFiles:
        for what, path in (("certificate", self.cert_file), ("key", self.key_file)):
            if not Path(path).is_file():
                raise ValueError(f"TLS {what} {path} does not exist or is not a file")
        try:
            server_context(self)
        except ssl.SSLError as exc:
            raise ValueError(f"TLS certificate and key do not load ({exc.reason})") from None
        except OSError as exc:
            raise ValueError(f"TLS certificate or key cannot be read: {exc.strerror}") from None
        return self


class Lockout(ConfigModel):
    failures: int = Field(10, ge=1, le=1000, description="wrong passwords in a row that lock an account")
    lock_s: float = Field(900.0, gt=0, le=86_400, description="how long a locked account stays locked")


class DemoAccount(ConfigModel):
    """An account made at start (for demonstrations only): its password is the environment variable's,
    or a random one printed once when the site starts."""

    name: AccountName = "demo"
    role: Literal["viewer", "officer", "supervisor"] = "officer"
    password_env: str = Field("GATECORE_DEMO_PASSWORD", pattern=r"^[A-Z_][A-Z0-9_]{0,63}$")


class ConsoleSection(ConfigModel):
    """The officers' console: a web page served by the controller (``https://LISTEN/``)."""

    listen: str = Field("127.0.0.1:8780", description="host:port to serve on: one address of this machine")
    accounts: str | None = Field(None, description="the accounts file (`gatecore console user add`)")
    tls: TlsFiles | None = Field(None, description="certificate and key; required unless listen is loopback")
    session_idle_s: int = Field(900, ge=30, le=86_400, description="a session ends after this long without a "
                                "request (watching the page is not one)")
    session_max_s: int = Field(43_200, ge=60, le=604_800, description="a session ends this long after login")
    lockout: Lockout = Field(default_factory=Lockout)
    history: int = Field(500, ge=10, le=10_000, description="events the page keeps (decisions, faults, actions)")
    push_interval_ms: int = Field(100, ge=10, le=5000, description="at most one push to a browser this often")
    pass_reasons: tuple[ReasonCode, ...] = Field(("documents_checked", "identity_confirmed"), min_length=1)
    deny_reasons: tuple[ReasonCode, ...] = Field(("documents_invalid", "identity_mismatch", "sent_back"),
                                                 min_length=1)
    manual_reasons: tuple[ReasonCode, ...] = Field(("maintenance", "incident", "staffing"), min_length=1)
    ack_reasons: tuple[ReasonCode, ...] = Field(("seen", "fixed", "reported"), min_length=1)
    demo_account: DemoAccount | None = Field(None, description="for demonstrations only")

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        host, _ = split_address(value)
        if ipaddress.ip_address(host).is_unspecified:
            raise ValueError(f"listen {value!r} is every address of the machine: name the one to serve on")
        try:
            with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
                probe.bind((host, 0))
        except OSError:
            raise ValueError(f"listen {value!r}: {host} is not an address of this machine") from None
        return value

    @field_validator("accounts")
    @classmethod
    def _accounts(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                read_accounts(Path(value))
            except AccountsError as exc:
                raise ValueError(str(exc)) from None
        return value

    @model_validator(mode="after")
    def _whole(self) -> ConsoleSection:
        if self.tls is None and not ipaddress.ip_address(self.address()[0]).is_loopback:
            raise ValueError(f"listen {self.listen!r} is not a loopback address: the console needs tls "
                             "(cert_file, key_file) to serve on it")
        if self.accounts is None and self.demo_account is None:
            raise ValueError("no accounts: name an accounts file (accounts = PATH, made with `gatecore console "
                             "user add NAME --role ROLE --accounts PATH`)")
        if self.session_idle_s > self.session_max_s:
            raise ValueError("session_idle_s must not be longer than session_max_s")
        return self

    def address(self) -> tuple[str, int]:
        return split_address(self.listen)

    def url(self, port: int | None = None) -> str:
        host, configured = self.address()
        shown = f"[{host}]" if ":" in host else host
        return f"{'https' if self.tls else 'http'}://{shown}:{configured if port is None else port}/"

    def reasons(self) -> dict[str, tuple[str, ...]]:
        """The reason codes of each action, as the page offers them."""
        return {"pass": self.pass_reasons, "deny": self.deny_reasons, "manual": self.manual_reasons,
                "ack": self.ack_reasons}


def split_address(value: str) -> tuple[str, int]:
    """``host:port`` (``[v6]:port``) with an IP address for host; ``ValueError`` says what is wrong."""
    host, sep, port = value.rpartition(":")
    host = host.strip("[]")
    if host == "localhost":
        host = "127.0.0.1"
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"listen {value!r}: expected host:port, e.g. 127.0.0.1:8780")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"listen {value!r}: the host must be an IP address (or localhost)") from None
    return host, int(port)


def server_context(tls: TlsFiles) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(tls.cert_file, tls.key_file)
    return context


__all__ = ["ROLES", "ConsoleSection", "DemoAccount", "Lockout", "TlsFiles", "server_context", "split_address"]
