"""The exceptions a link raises. A dependency's exceptions are translated into these, never leaked."""

from __future__ import annotations


class LinkError(Exception):
    """A hardware link failed: the port is gone, the peer does not answer, or the reply is unusable."""


class LinkTimeout(LinkError):
    """The peer did not answer within the reply timeout, after the bounded retries."""


class PeerOffline(LinkError):
    """The peer is known to be offline; the command was not sent."""


class CommandRejected(LinkError):
    """The peer answered and refused the command (an OSDP NAK, a Modbus exception response)."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


class NotConfirmed(LinkError):
    """A write was accepted but the read-back does not show the value that was written."""
