"""Privacy by allow-list: what may leave the controller, and the one place that decides it.

What leaves the controller - records for the IOC (decisions, faults, lane states), log lines, metrics
labels, the ``gatecore run`` summary - carries only

- what the core makes itself: ids from the profile (site, lane, device role, evidence source), plugin
  names, record ids, outcomes, lane states, fault kinds, numbers, and texts the core composes from these
  alone (:class:`SafeText`; plugins never make one);
- what a plugin declares, for each evidence kind, as fit to leave (:class:`Reports`, the ``reports``
  class attribute of its :class:`gatecore.api.EvidenceConfig`): the enumerated codes its evidence's
  ``reason`` may take, and the summary fields it may report with their type - a number
  (:data:`NUMBER`), a boolean (:data:`FLAG`), one of an enumerated set of codes (:class:`Codes`), a
  reference to a person or document that leaves only as a keyed hash (:data:`REF`), or a map of such
  fields (:class:`Group`).

Everything else is left out (a fixed field such as a reason is replaced by :data:`DROPPED`) and counted
in :data:`DROPS` by place - the part of a record and the evidence kind or plugin, never the value or a
summary key (keys are free text too); the first drop at each place is logged, without the value.
An evidence's ``claims`` never leave the controller, nor do exception messages of plugins or a device's
offline reason: an error leaves as its type and where it was raised (:func:`error_text`).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any

import structlog

log = structlog.get_logger("gatecore.privacy")

#: What stands in for a fixed field whose value may not leave the controller.
DROPPED = "[dropped]"

_CODE = re.compile(r"[a-z0-9][a-z0-9_.\-]{0,63}", re.ASCII)
_FIELD = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}", re.ASCII)


class SafeText(str):
    """Text the core composed from its own words, ids, codes, type names and numbers: fit to leave the
    controller. Any other ``str`` a record or a log line meets is free text, and does not leave."""

    __slots__ = ()


class SafeMessage(Exception):
    """Base of the core's own errors about plugins, whose messages the core composes from ids, type
    names and numbers only (never a plugin's text): their message may be logged and recorded."""


def error_text(exc: BaseException) -> SafeText:
    """An error as it may leave the controller: the core's own errors with their message, any other as
    its type and where it was raised (``RuntimeError at acme_plate.ocr:42``), never its message."""
    if isinstance(exc, SafeMessage):
        return SafeText(f"{type(exc).__name__}: {exc}")
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return SafeText(type(exc).__name__)
    return SafeText(f"{type(exc).__name__} at {tb.tb_frame.f_globals.get('__name__', '?')}:{tb.tb_lineno}")


# -- what a plugin declares -------------------------------------------------------------------------

class _Plain:
    """A field type without parameters: :data:`NUMBER`, :data:`FLAG` or :data:`REF`."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


#: A finite ``int`` or ``float`` (not a boolean): a score, a count, a timing.
NUMBER = _Plain("NUMBER")
#: A boolean.
FLAG = _Plain("FLAG")
#: A reference to a person, a pass or a document (a text or an integer): it leaves only as HMAC-SHA256
#: keyed with the reporter's key (:func:`keyed_ref`; gate_ioc's ``doc_salt``), and not at all without one.
REF = _Plain("REF")


class Codes:
    """One of an enumerated set of codes (lower-case letters, digits and ``_ . -``, at most 64)."""

    __slots__ = ("values",)

    def __init__(self, *values: str) -> None:
        self.values = codes(values)

    def __repr__(self) -> str:
        return f"Codes({', '.join(map(repr, sorted(self.values)))})"


class Group:
    """A map of declared fields (``timings_ms=Group(detect=NUMBER, embed=NUMBER)``)."""

    __slots__ = ("fields",)

    def __init__(self, **fields: Field) -> None:
        self.fields = _fields(fields)

    def __repr__(self) -> str:
        return f"Group({', '.join(f'{k}={v!r}' for k, v in self.fields.items())})"


Field = _Plain | Codes | Group


class Reports:
    """What one evidence kind may report outside the controller: the codes its ``reason`` takes and its
    summary fields, each with its type::

        class AcmePlateConfig(EvidenceConfig):
            reports: ClassVar[Reports] = Reports(("read", "no_plate", "unreadable"),
                                                 score=NUMBER, country=Codes("vn", "cn"), plate=REF)

    A summary key that is not declared, or whose value is not of its type, is left out and counted; a
    reason that is not one of the codes becomes :data:`DROPPED`. The default declares nothing.
    """

    __slots__ = ("reasons", "summary")

    def __init__(self, reasons: Iterable[str] = (), **summary: Field) -> None:
        self.reasons = codes(reasons)
        self.summary = _fields(summary)

    def __repr__(self) -> str:
        return f"Reports({sorted(self.reasons)!r}, {self.summary!r})"


def codes(values: Iterable[str]) -> frozenset[str]:
    """``values`` as a set of codes; ``ValueError`` names the first that is not a code."""
    if isinstance(values, str):
        raise TypeError("codes are a collection of texts, not one text")
    out = frozenset(values)
    for value in out:
        if not isinstance(value, str) or not _CODE.fullmatch(value):
            raise ValueError(f"{value!r} is not a code (lower-case letters, digits and _ . -, at most 64)")
    return out


def _fields(fields: Mapping[str, Any]) -> Mapping[str, Field]:
    for name, spec in fields.items():
        if not _FIELD.fullmatch(name):
            raise ValueError(f"{name!r} is not a field name (letters, digits and _, at most 64)")
        if not isinstance(spec, _Plain | Codes | Group):
            raise TypeError(f"field {name!r}: {spec!r} is not NUMBER, FLAG, REF, Codes(...) or Group(...)")
    return dict(fields)


#: What a kind reports by default: nothing but its outcome, confidence and timing.
NOTHING = Reports()


# -- applying it ------------------------------------------------------------------------------------

class Drops:
    """How many values were kept from leaving the controller, by place (never the values), per process."""

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()  # log lines are made in executor threads too

    def add(self, place: str, n: int = 1, quiet: bool = False) -> None:
        """Count ``n`` drops at ``place``; the first at a place is logged (unless ``quiet``: the log's own)."""
        if n <= 0:
            return
        with self._lock:
            first = place not in self._counts
            self._counts[place] = self._counts.get(place, 0) + n
        if first and not quiet:
            log.warning("privacy_dropped", place=place, count=n,
                        why=SafeText("not declared fit to leave the controller: left out, and counted"))

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def total(self) -> int:
        with self._lock:
            return sum(self._counts.values())


#: Every drop of this process (``gatecore_privacy_dropped`` in gate_metrics).
DROPS = Drops()


def is_code(value: str) -> bool:
    """Whether ``value`` is a code: lower-case letters, digits and ``_ . -``, at most 64."""
    return _CODE.fullmatch(value) is not None


def keyed_ref(value: str, key: bytes) -> str:
    """A reference as it leaves the controller: ``hmac-sha256:`` and 32 hex digits of HMAC-SHA256."""
    return "hmac-sha256:" + hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:32]


def code(value: object, allowed: frozenset[str], place: str) -> str:
    """``value`` if it is empty or one of the ``allowed`` codes, else :data:`DROPPED` (counted)."""
    if value == "" or value == DROPPED or (isinstance(value, str) and value in allowed):
        return str(value)
    DROPS.add(place)
    return DROPPED


def text(value: object, place: str) -> str:
    """``value`` if the core composed it (:class:`SafeText`) or it is empty, else :data:`DROPPED`."""
    if isinstance(value, SafeText) or value == "" or value == DROPPED:
        return str(value)
    DROPS.add(place)
    return DROPPED


def summary(values: Mapping[str, Any], fields: Mapping[str, Field], key: bytes | None, place: str) -> dict[str, Any]:
    """The declared fields of ``values`` whose values are of their declared type; references keyed-hashed
    with ``key`` (left out without one); every other key is left out and counted at ``place``."""
    out, dropped = _declared(values, fields, key)
    DROPS.add(place, dropped)
    return out


def _declared(values: Mapping[str, Any], fields: Mapping[str, Field], key: bytes | None) -> tuple[dict[str, Any], int]:
    out: dict[str, Any] = {}
    dropped = 0
    for name, value in values.items():
        spec = fields.get(name)
        if spec is not None and value is None:
            continue  # a declared field without a value this time
        if isinstance(spec, Group) and isinstance(value, Mapping):
            out[name], n = _declared(value, spec.fields, key)
            dropped += n
        elif spec is REF and isinstance(value, str | int) and not isinstance(value, bool):
            if key is not None:
                out[name] = keyed_ref(str(value), key)
        elif spec is not None and _fits(spec, value):
            out[name] = value
        else:
            dropped += 1
    return out, dropped


def _fits(spec: Field, value: Any) -> bool:
    if spec is NUMBER:
        return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if spec is FLAG:
        return isinstance(value, bool)
    return isinstance(spec, Codes) and isinstance(value, str) and value in spec.values
