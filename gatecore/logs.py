"""Logging: structlog, JSON lines when stdout is not a TTY, console on a TTY, personal data kept out by an
allow-list (:func:`allow`): a log line leaves the controller like a record does (:mod:`gatecore.privacy`)."""

from __future__ import annotations

import logging
import math
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any, TextIO

import orjson
import structlog

from gatecore.privacy import DROPPED, DROPS, SafeText

_ID_KEYS = ("timestamp", "site", "lane", "lanes", "txn", "device", "role", "camera", "plugin", "hook", "source",
            "sources", "task", "tasks", "gallery", "shared", "topic", "url", "module", "place", "vehicle", "trip",
            "order", "station")
_CODE_KEYS = ("event", "level", "kind", "outcome", "reasons", "reason", "why", "what", "message", "error", "mode",
              "via")
_NUMBER_KEYS = ("count", "counts", "version", "was", "sequence", "keys", "size", "threshold", "bytes",
                "budget_bytes", "records", "refused", "failed", "abandoned", "applied", "owners", "uses", "taken",
                "held", "seconds", "latency_ms", "deadline_ms", "timeout_s", "retry_in_s", "restart_in_s",
                "privacy_dropped", "code", "errors", "stored", "duplicates", "gaps", "bad", "attempt", "vehicles",
                "trips")
#: The keys a log line may carry (the core's and first-party plugins' vocabulary), each with the kind of
#: value it takes: ``id`` (an id from the profile or the core: ASCII, no spaces), ``code`` (a lower-case
#: code, or a text the core composed: :class:`gatecore.privacy.SafeText`), ``number`` (a number or a flag);
#: ``None``, and lists and maps (with id keys) of such values, too. Any other key or value says ``[dropped]``.
LOG_KEYS: Mapping[str, str] = {**dict.fromkeys(_ID_KEYS, "id"), **dict.fromkeys(_CODE_KEYS, "code"),
                               **dict.fromkeys(_NUMBER_KEYS, "number")}
#: structlog keys that would render a traceback, with the exception's message in it: taken out
_TRACEBACKS = ("exc_info", "exception", "stack", "stack_info")
_ID = re.compile(r"[A-Za-z0-9_.:/@+\-]{1,128}", re.ASCII)
_CODE = re.compile(r"[a-z][a-z0-9_.\-]{0,63}", re.ASCII)
_MAX_ITEMS = 64


def allow(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """A structlog processor: every key not in :data:`LOG_KEYS`, and every value not of its key's kind,
    is replaced by ``[dropped]`` and counted (``DROPS["log"]``). Free text - an exception's message, a
    scanned text, a name - is never of any kind: the core's own texts are :class:`SafeText`, and a plugin
    logs an error as :func:`gatecore.privacy.error_text` and anything else as ids, codes and numbers."""
    dropped = 0
    for key in _TRACEBACKS:
        if event.pop(key, None) is not None:
            dropped += 1
    for key, value in event.items():
        kind = LOG_KEYS.get(key)
        if kind is None or not _safe(value, kind, 0):
            event[key] = DROPPED
            dropped += 1
    DROPS.add("log", dropped, quiet=True)
    return event


def _safe(value: Any, kind: str, depth: int) -> bool:
    if value is None or isinstance(value, bool | int | float | str):
        return value is None or value == DROPPED or _scalar(value, kind)
    if depth >= 3:
        return False
    if isinstance(value, list | tuple | set | frozenset):
        return len(value) <= _MAX_ITEMS and all(_safe(v, kind, depth + 1) for v in value)
    if isinstance(value, Mapping):
        return len(value) <= _MAX_ITEMS and all(isinstance(k, str) and _ID.fullmatch(k) and _safe(v, kind, depth + 1)
                                                for k, v in value.items())
    return False


def _scalar(value: bool | float | str, kind: str) -> bool:
    if kind == "number":
        return not isinstance(value, str) and math.isfinite(value)
    if not isinstance(value, str):
        return False
    if isinstance(value, SafeText):
        return kind == "code" and len(value) <= 1000
    return (_ID if kind == "id" else _CODE).fullmatch(value) is not None


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
            allow,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper())),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=False,
    )
