"""The ``[plugins.gate_metrics]`` profile section."""

from __future__ import annotations

from pydantic import Field, field_validator

from gatecore.api import ConfigModel


class MetricsSection(ConfigModel):
    """Prometheus metrics on http://LISTEN/metrics."""

    listen: str = Field("127.0.0.1:9464", description="host:port to serve /metrics on (port 0: any free port)")

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError(f"listen {value!r}: expected host:port, e.g. 127.0.0.1:9464")
        return value

    def address(self) -> tuple[str, int]:
        host, _, port = self.listen.rpartition(":")
        return host.strip("[]"), int(port)
