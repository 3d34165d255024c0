"""Logging: structlog, JSON lines when stdout is not a TTY, console on a TTY, personal data redacted."""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import orjson
import structlog

#: Keys whose values never reach a log: names, document numbers, raw scans, biometrics, images.
REDACTED_KEYS = frozenset({
    "name", "full_name", "given_name", "surname", "document", "document_number", "doc_number",
    "passport", "birth_date", "dob", "text", "payload", "raw", "embedding", "template", "image",
    "frame", "face", "photo", "secret", "password", "token",
})


def redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """A structlog processor that replaces the values of personal or secret keys."""
    for key in REDACTED_KEYS.intersection(event):
        event[key] = "[redacted]"
    return event


def _json(event: Any, **kwargs: Any) -> str:
    """orjson: a log line is rendered several times faster than with the standard library."""
    return orjson.dumps(event, default=kwargs.get("default")).decode()


def configure(level: str = "info", fmt: str = "auto", stream: TextIO | None = None) -> None:
    stream = stream or sys.stdout
    console = fmt == "console" or (fmt == "auto" and stream.isatty())
    renderer: Any = (structlog.dev.ConsoleRenderer(colors=stream.isatty()) if console
                     else structlog.processors.JSONRenderer(serializer=_json))
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper())),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=False,
    )
