"""Key positions for a TOML document.

``tomllib`` parses but keeps no positions, and a profile error must name its line and column.
:func:`key_positions` scans a document that ``tomllib`` has already accepted and maps every key path
(``("lanes", 0, "policy", "deadline_ms")``) to the 1-based line and column where it is written: a key
to its last key part (``gate_simm`` in ``[plugins.gate_simm.extra]``), an element of an array of tables
to its ``[[`` header, an element of an inline array to its value.

The scanner only finds keys; values are skipped, strings by one regular expression per string form.
Every step consumes input or stops with :class:`TomlScanError`, and no expression backtracks, so the
scan is linear in the document's size and ends on any input, valid or not. Nesting deeper than
``max_depth`` key parts (tables, arrays, inline tables and dotted keys all count) stops it with
:class:`TooDeep` at the offending key or value.
"""

from __future__ import annotations

import bisect
import re
import tomllib
from collections.abc import Mapping
from typing import Any, TypeAlias

KeyPath: TypeAlias = tuple[str | int, ...]
Position: TypeAlias = tuple[int, int]

#: Key parts a document may nest by default (a site profile needs fewer than ten).
MAX_DEPTH = 32

# Each string form, matched whole; possessive loops never backtrack. A multi-line string may end with
# up to two quotes of its own before the closing three.
_STRINGS = {
    '"""': re.compile(r'"""(?:[^"\\]|\\.|"(?!""))*+"""(?:"{1,2})?+', re.S),
    "'''": re.compile(r"'''(?:[^']|'(?!''))*+'''(?:'{1,2})?+"),
    '"': re.compile(r'"(?:[^"\\\n]|\\.)*+"'),
    "'": re.compile(r"'[^'\n]*+'"),
}
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]++")
_BLANK = re.compile(r"[ \t]*+")
_BLANK_LINES = re.compile(r"(?:[ \t\r\n]++|#[^\n]*+)*+")
_LINE_END = re.compile(r"[ \t]*+(?:#[^\n]*+)?+\r?(?:\n|\Z)")
_SCALAR = re.compile(r"[^,\]}\n#\"'\[{]++")  # numbers, booleans, dates: up to the next delimiter


class TomlScanError(ValueError):
    """The text is not a TOML document (only raised for documents ``tomllib`` refuses too)."""


class TooDeep(ValueError):
    """A key or value nests deeper than the limit."""

    def __init__(self, position: Position, depth: int) -> None:
        super().__init__(f"nested deeper than {depth} levels")
        self.position = position
        self.depth = depth


class _Scanner:
    def __init__(self, text: str, max_depth: int) -> None:
        self.text = text
        self.i = 0
        self.max_depth = max_depth
        self.offsets: dict[KeyPath, int] = {}
        self.array_tables: dict[KeyPath, int] = {}  # array-of-tables path -> index of its last element
        self._newlines = [m.start() for m in re.finditer("\n", text)]

    # -- low level -------------------------------------------------------------------------
    def position(self, offset: int) -> Position:
        line = bisect.bisect_left(self._newlines, offset)
        start = self._newlines[line - 1] + 1 if line else 0
        return line + 1, offset - start + 1

    def skip(self, pattern: re.Pattern[str]) -> None:
        match = pattern.match(self.text, self.i)
        if match is not None:
            self.i = match.end()

    def expect(self, token: str) -> None:
        if not self.text.startswith(token, self.i):
            raise TomlScanError(f"expected {token!r} at offset {self.i}")
        self.i += len(token)

    def here(self) -> str:
        return self.text[self.i : self.i + 1]

    def deeper(self, path: KeyPath, offset: int) -> None:
        if len(path) > self.max_depth:
            raise TooDeep(self.position(offset), self.max_depth)

    # -- strings and keys ------------------------------------------------------------------
    def string(self) -> str:
        """Skip the string at the cursor; return its text as written, quotes included."""
        quote = self.text[self.i : self.i + 3]
        pattern = _STRINGS.get(quote) or _STRINGS.get(quote[:1])
        match = pattern.match(self.text, self.i) if pattern is not None else None
        if match is None:
            raise TomlScanError(f"unterminated string at offset {self.i}")
        self.i = match.end()
        return match.group()

    def key(self) -> list[tuple[str, int]]:
        """A dotted key: each part with the offset where it is written."""
        parts: list[tuple[str, int]] = []
        while True:
            self.skip(_BLANK)
            at = self.i
            if self.here() in ("'", '"'):
                parts.append((_key_name(self.string()), at))
            else:
                match = _BARE_KEY.match(self.text, self.i)
                if match is None:
                    raise TomlScanError(f"expected a key at offset {self.i}")
                self.i = match.end()
                parts.append((match.group(), at))
            self.skip(_BLANK)
            if self.here() != ".":
                return parts
            self.i += 1

    # -- values ----------------------------------------------------------------------------
    def value(self, path: KeyPath) -> None:
        c = self.here()
        if c in ("'", '"'):
            self.string()
        elif c == "[":
            self.array(path)
        elif c == "{":
            self.inline_table(path)
        else:
            match = _SCALAR.match(self.text, self.i)
            if match is None:
                raise TomlScanError(f"expected a value at offset {self.i}")
            self.i = match.end()

    def array(self, path: KeyPath) -> None:
        self.i += 1
        index = 0
        while True:
            self.skip(_BLANK_LINES)
            if self.here() == "]":
                self.i += 1
                return
            element = (*path, index)
            self.deeper(element, self.i)
            self.offsets[element] = self.i
            self.value(element)
            index += 1
            self.skip(_BLANK_LINES)
            if self.here() == ",":
                self.i += 1
            elif self.here() != "]":
                raise TomlScanError(f"expected ',' or ']' at offset {self.i}")

    def inline_table(self, path: KeyPath) -> None:
        self.i += 1
        self.skip(_BLANK_LINES)
        if self.here() == "}":
            self.i += 1
            return
        while True:
            self.keyval(path)
            self.skip(_BLANK_LINES)
            if self.here() == "}":
                self.i += 1
                return
            self.expect(",")
            self.skip(_BLANK_LINES)

    def keyval(self, table: KeyPath) -> None:
        path = table
        for name, at in self.key():
            path = (*path, name)
            self.deeper(path, at)
            self.offsets.setdefault(path, at)
        self.expect("=")
        self.skip(_BLANK)
        self.value(path)

    # -- document --------------------------------------------------------------------------
    def header(self) -> KeyPath:
        at = self.i
        is_array = self.text.startswith("[[", self.i)
        self.i += 2 if is_array else 1
        parts = self.key()
        self.expect("]]" if is_array else "]")
        path: KeyPath = ()
        for depth, (name, offset) in enumerate(parts, 1):
            path = (*path, name)
            self.deeper(path, offset)
            if depth < len(parts):
                self.offsets.setdefault(path, offset)
                if path in self.array_tables:
                    path = (*path, self.array_tables[path])
            elif is_array:
                self.offsets.setdefault(path, offset)
                index = self.array_tables.get(path, -1) + 1
                self.array_tables[path] = index
                path = (*path, index)
                self.deeper(path, at)
                self.offsets[path] = at
            else:
                self.offsets[path] = offset  # an explicit header wins over an earlier implicit mention
        return path

    def document(self) -> dict[KeyPath, Position]:
        table: KeyPath = ()
        while True:
            self.skip(_BLANK_LINES)
            if self.i >= len(self.text):
                break
            if self.here() == "[":
                table = self.header()
            else:
                self.keyval(table)
            end = _LINE_END.match(self.text, self.i)
            if end is None:
                raise TomlScanError(f"expected the end of the line at offset {self.i}")
            self.i = end.end()
        positions = {path: self.position(offset) for path, offset in self.offsets.items()}
        positions[()] = (1, 1)
        return positions


def _key_name(written: str) -> str:
    """The name a quoted key stands for (escapes decoded by ``tomllib`` itself)."""
    if written.startswith("'") or "\\" not in written:
        return written[1:-1]
    try:
        parsed: dict[str, Any] = tomllib.loads(f"{written} = 0")
    except tomllib.TOMLDecodeError as exc:
        raise TomlScanError(f"bad quoted key {written!r}") from exc
    return next(iter(parsed))


def key_positions(text: str, max_depth: int = MAX_DEPTH) -> dict[KeyPath, Position]:
    """Map each key path of a TOML document to its (line, column), both 1-based.

    Raises :class:`TooDeep` for nesting beyond ``max_depth`` and :class:`TomlScanError` for text that
    is not TOML. Meant for documents ``tomllib`` accepted: on those, every key path it yields is mapped.
    """
    return _Scanner(text, max_depth).document()


def locate(positions: Mapping[KeyPath, Any], path: KeyPath) -> tuple[KeyPath, Any]:
    """Where ``path`` is written, or its nearest written ancestor (a missing key -> its table)."""
    for cut in range(len(path), -1, -1):
        found = positions.get(path[:cut])
        if found is not None:
            return path[:cut], found
    return (), None
