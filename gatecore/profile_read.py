"""Reading a profile: its files (the profile and what it includes) into one raw document with the origin
(file, line, column) of every key.

A profile is hostile input until it is read: the files are bounded in size (``max_bytes`` for the
profile with its includes) and in nesting (``max_depth`` key parts), must be UTF-8, and may include only
files below the profile's directory or a directory the command line allows (``include_dirs``). Every
problem becomes a :class:`ProfileIssue` at a location; none is an exception.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gatecore.tomlpos import MAX_DEPTH, KeyPath, TomlScanError, TooDeep, key_positions

Origin = tuple[str, int, int]

#: The default bound of a profile with its includes, in bytes (``--max-profile-bytes``).
MAX_PROFILE_BYTES = 1 << 20
#: Includes may nest this many files deep.
MAX_INCLUDE_DEPTH = 8


@dataclass(frozen=True, slots=True, order=True)
class ProfileIssue:
    file: str
    line: int
    col: int
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}: {self.path or '<profile>'}: {self.message}"


class ProfileError(Exception):
    def __init__(self, issues: Sequence[ProfileIssue]) -> None:
        self.issues = sorted(set(issues))
        super().__init__("\n".join(map(str, self.issues)))


@dataclass(frozen=True)
class ReadLimits:
    """What a profile may be: its size with its includes, its nesting, where its includes may live."""

    max_bytes: int = MAX_PROFILE_BYTES
    include_dirs: tuple[Path, ...] = ()
    """Directories includes may come from besides the profile's own (and those below them)."""
    max_depth: int = MAX_DEPTH


def dotted(path: KeyPath) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def read_profile(path: str | Path, limits: ReadLimits | None = None) -> tuple[dict[str, Any], dict[KeyPath, Origin]]:
    """The merged raw document and the origin of every key; raises :class:`ProfileError`."""
    reader = _Reader(Path(path), limits or ReadLimits())
    layer = reader.read(Path(path))
    if reader.issues:
        raise ProfileError(reader.issues)
    return layer.data, layer.origins


# -- one file -------------------------------------------------------------------------------------


class _Unreadable(Exception):
    def __init__(self, line: int, col: int, message: str) -> None:
        super().__init__(message)
        self.line, self.col, self.message = line, col, message


def decode(data: bytes) -> str:
    """The text of a profile file; raises :class:`_Unreadable` (with where) if it is not UTF-8."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise _Unreadable(1, 1, "the file is UTF-16 (it starts with a UTF-16 byte-order mark); "
                                "save the profile as UTF-8")
    nul = data.find(b"\x00")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, col = _where(data, exc.start)
        raise _Unreadable(line, col, f"not UTF-8: byte 0x{data[exc.start]:02x} {exc.reason}; save the "
                                     "profile as UTF-8") from None
    if nul >= 0:
        line, col = _where(data, nul)
        raise _Unreadable(line, col, "a NUL byte (is the file UTF-16?); save the profile as UTF-8")
    return text


def _where(data: bytes, offset: int) -> tuple[int, int]:
    start = data.rfind(b"\n", 0, offset) + 1
    return data.count(b"\n", 0, offset) + 1, len(data[start:offset].decode("utf-8", "replace")) + 1


def _toml_error_position(message: str) -> tuple[int, int]:
    found = re.search(r"line (\d+), column (\d+)", message)
    return (int(found.group(1)), int(found.group(2))) if found else (1, 1)


# -- files and includes ---------------------------------------------------------------------------


@dataclass
class _Layer:
    data: dict[str, Any]
    origins: dict[KeyPath, Origin] = field(default_factory=dict)


class _Reader:
    def __init__(self, profile: Path, limits: ReadLimits) -> None:
        self.issues: list[ProfileIssue] = []
        self.limits = limits
        self.budget = limits.max_bytes  # bytes still allowed, for this file and the includes still to read
        self.roots = tuple(_resolved(p) for p in (profile.parent, *limits.include_dirs))

    def issue(self, origin: Origin, path: KeyPath, message: str) -> None:
        self.issues.append(ProfileIssue(origin[0], origin[1], origin[2], dotted(path), message))

    def read(self, path: Path, stack: tuple[Path, ...] = ()) -> _Layer:
        shown = str(path)
        text = self.text(path, shown)
        parsed = self.parse(text, shown) if text is not None else None
        if parsed is None:
            return _Layer({})
        data, origins = parsed
        layer = _Layer({}, {})
        includes = data.pop("include", [])
        if not isinstance(includes, list) or not all(isinstance(i, str) for i in includes):
            self.issue(origins.get(("include",), (shown, 1, 1)), ("include",), "expected a list of file names")
            includes = []
        for index, name in enumerate(includes):
            where = origins.get(("include", index), origins[()])
            target = self.include(path, name, (*stack, _resolved(path)), where, index)
            if target is not None:
                _merge(layer, self.read(target, (*stack, _resolved(path))))
        _merge(layer, _Layer(data, {k: v for k, v in origins.items() if k[:1] != ("include",)}))
        return layer

    def text(self, path: Path, shown: str) -> str | None:
        if self.budget < 0:
            return None  # already over the limit: said once
        try:
            with path.open("rb") as file:
                data = file.read(self.budget + 1)
        except OSError as exc:
            self.issue((shown, 1, 1), (), f"cannot read profile: {exc.strerror}")
            return None
        self.budget -= len(data)
        if self.budget < 0:
            self.issue((shown, 1, 1), (), f"the profile with its includes is larger than {self.limits.max_bytes} "
                                          "bytes (raise the limit with --max-profile-bytes)")
            return None
        try:
            return decode(data)
        except _Unreadable as exc:
            self.issue((shown, exc.line, exc.col), (), exc.message)
            return None

    def parse(self, text: str, shown: str) -> tuple[dict[str, Any], dict[KeyPath, Origin]] | None:
        data: dict[str, Any] | None = None
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            line, col = _toml_error_position(str(exc))
            self.issue((shown, line, col), (), f"TOML syntax error: {re.sub(r' [(]at .*[)]$', '', str(exc))}")
            return None
        except RecursionError:
            pass  # nested too deeply for the parser: the scan below says where
        too_deep = f"nested deeper than {self.limits.max_depth} levels (each table, array and dotted key counts)"
        try:
            positions = key_positions(text, self.limits.max_depth)
        except TooDeep as exc:
            self.issue((shown, *exc.position), (), too_deep)
            return None
        except TomlScanError:  # not for a document tomllib accepted (tests/test_core_tomlpos.py)
            positions = {(): (1, 1)}
        if data is None:
            self.issue((shown, 1, 1), (), too_deep)
            return None
        return data, {key: (shown, ln, cl) for key, (ln, cl) in positions.items()}

    def include(self, path: Path, name: str, stack: tuple[Path, ...], where: Origin, index: int) -> Path | None:
        """The file ``name`` (included by ``path``) if it may be read; else says why and returns None."""
        key: KeyPath = ("include", index)
        target = _resolved(path.parent / name)
        if target in stack:
            self.issue(where, key, f"include cycle through {name!r}")
        elif not any(target.is_relative_to(root) for root in self.roots):
            self.issue(where, key, f"included file {name!r} is outside the profile's directory "
                                   f"{self.roots[0]}; allow its directory with --include-dir")
        elif not target.is_file():
            self.issue(where, key, f"included file {name!r} not found")
        elif len(stack) > MAX_INCLUDE_DEPTH:
            self.issue(where, key, f"includes nest deeper than {MAX_INCLUDE_DEPTH} files")
        else:
            return target
        return None


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, ValueError):  # a name with a NUL byte, a loop of symbolic links
        return path.absolute()


# -- merging --------------------------------------------------------------------------------------


def _merge(base: _Layer, top: _Layer) -> None:
    """Overlay ``top`` on ``base``: tables merge, arrays of tables concatenate, other values replace."""
    shifts: dict[KeyPath, int] = {}

    def merge(dst: dict[str, Any], src: dict[str, Any], path: KeyPath) -> None:
        for key, value in src.items():
            here = (*path, key)
            old = dst.get(key)
            if isinstance(old, dict) and isinstance(value, dict):
                merge(old, value, here)
            elif isinstance(old, list) and _is_table_array(old) and _is_table_array(value):
                shifts[here] = len(old)
                old.extend(value)
            else:
                dst[key] = value

    merge(base.data, top.data, ())
    for key, origin in top.origins.items():
        base.origins[_shift(key, shifts)] = origin


def _is_table_array(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _shift(key: KeyPath, shifts: Mapping[KeyPath, int]) -> KeyPath:
    for prefix, offset in shifts.items():
        n = len(prefix)
        index = key[n] if len(key) > n else None
        if key[:n] == prefix and isinstance(index, int):
            return (*prefix, index + offset, *key[n + 1:])
    return key
