"""Key positions for a TOML document.

``tomllib`` parses but keeps no positions, and a profile error must name its line and column.
:func:`key_positions` walks a document that ``tomllib`` has already accepted and maps every key path
(``("lanes", 0, "policy", "deadline_ms")``) to the 1-based line and column where it is written.
Table headers map to the header; array elements to the element.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeAlias

KeyPath: TypeAlias = tuple[str | int, ...]
Position: TypeAlias = tuple[int, int]

_BARE = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0
        self.line = 1
        self.line_start = 0
        self.positions: dict[KeyPath, Position] = {}
        self.array_tables: dict[KeyPath, int] = {}

    # -- low level -------------------------------------------------------------------------
    def peek(self, n: int = 0) -> str:
        j = self.i + n
        return self.text[j] if j < len(self.text) else ""

    def pos(self) -> Position:
        return (self.line, self.i - self.line_start + 1)

    def advance(self, n: int = 1) -> None:
        for _ in range(n):
            if self.i < len(self.text) and self.text[self.i] == "\n":
                self.line += 1
                self.line_start = self.i + 1
            self.i += 1

    def skip_ws(self, newlines: bool = False) -> None:
        while self.i < len(self.text):
            c = self.text[self.i]
            if c in " \t\r" or (newlines and c == "\n"):
                self.advance()
            elif c == "#":
                while self.i < len(self.text) and self.text[self.i] != "\n":
                    self.advance()
            else:
                return

    # -- strings and keys ------------------------------------------------------------------
    def string(self) -> str:
        quote = self.peek()
        if self.text.startswith(quote * 3, self.i):
            end = self.text.index(quote * 3, self.i + 3)
            while self.text.startswith(quote, end + 3):  # up to two extra quotes belong to the body
                end += 1
            body = self.text[self.i + 3 : end]
            self.advance(end + 3 - self.i)
            return body
        self.advance()
        out: list[str] = []
        while self.peek() != quote:
            if quote == '"' and self.peek() == "\\":
                out.append(self.peek() + self.peek(1))
                self.advance(2)
            else:
                out.append(self.peek())
                self.advance()
        self.advance()
        raw = "".join(out)
        if quote == '"' and "\\" in raw:
            return raw.encode("latin-1", "backslashreplace").decode("unicode_escape")
        return raw

    def key(self) -> list[tuple[str, Position]]:
        parts: list[tuple[str, Position]] = []
        while True:
            self.skip_ws()
            at = self.pos()
            if self.peek() in "\"'":
                parts.append((self.string(), at))
            else:
                start = self.i
                while self.peek() in _BARE and self.peek():
                    self.advance()
                parts.append((self.text[start : self.i], at))
            self.skip_ws()
            if self.peek() != ".":
                return parts
            self.advance()

    # -- values ----------------------------------------------------------------------------
    def value(self, path: KeyPath) -> None:
        c = self.peek()
        if c in "\"'":
            self.string()
        elif c == "[":
            self.advance()
            index = 0
            while True:
                self.skip_ws(newlines=True)
                if self.peek() == "]":
                    self.advance()
                    return
                self.positions[(*path, index)] = self.pos()
                self.value((*path, index))
                index += 1
                self.skip_ws(newlines=True)
                if self.peek() == ",":
                    self.advance()
        elif c == "{":
            self.advance()
            while True:
                self.skip_ws()
                if self.peek() == "}":
                    self.advance()
                    return
                self.keyval(path)
                self.skip_ws()
                if self.peek() == ",":
                    self.advance()
        else:
            while self.peek() and self.peek() not in ",]}\n#":
                self.advance()

    def keyval(self, table: KeyPath) -> None:
        parts = self.key()
        path = table
        for name, at in parts:
            path = (*path, name)
            self.positions.setdefault(path, at)
        self.skip_ws()
        self.advance()  # '='
        self.skip_ws()
        self.value(path)

    # -- document --------------------------------------------------------------------------
    def header(self) -> KeyPath:
        at = self.pos()
        is_array = self.text.startswith("[[", self.i)
        self.advance(2 if is_array else 1)
        names = [name for name, _ in self.key()]
        self.advance(2 if is_array else 1)
        path: KeyPath = ()
        for depth, name in enumerate(names):
            path = (*path, name)
            last = depth == len(names) - 1
            if last and is_array:
                index = self.array_tables.get(path, -1) + 1
                self.array_tables[path] = index
                self.positions.setdefault(path, at)
                path = (*path, index)
            elif path in self.array_tables:
                path = (*path, self.array_tables[path])
        self.positions[path] = at
        return path

    def document(self) -> dict[KeyPath, Position]:
        table: KeyPath = ()
        self.positions[()] = (1, 1)
        while True:
            self.skip_ws(newlines=True)
            if not self.peek():
                return self.positions
            if self.peek() == "[":
                table = self.header()
            else:
                self.keyval(table)


def key_positions(text: str) -> dict[KeyPath, Position]:
    """Map each key path of a valid TOML document to its (line, column), both 1-based."""
    return _Scanner(text).document()


def locate(positions: Mapping[KeyPath, Any], path: KeyPath) -> tuple[KeyPath, Any]:
    """Where ``path`` is written, or its nearest written ancestor (a missing key -> its table)."""
    for cut in range(len(path), -1, -1):
        found = positions.get(path[:cut])
        if found is not None:
            return path[:cut], found
    return (), None
