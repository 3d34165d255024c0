"""The official VDA 5050 JSON schemas, read at run time from a directory laid out as the VDA5050 repository's
releases are (``2.0.0/``, ``2.1.0/``, ``3.0.0/``, each holding ``order.schema``, ``state.schema``, ...).

The directory is the profile's ``[plugins.gate_igv] schemas``, or the first of :data:`SEARCH_PATH` that has
them. The schemas are not copied into the plugin: they are the standard's, kept where the site keeps them.
Validation runs with ``jsonschema_rs`` (draft 2020-12, formats checked), some tens of microseconds a state
message, so that one controller can follow hundreds of vehicles.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import jsonschema_rs

from .versions import VERSIONS, Version

#: Where the schemas are looked for when the profile names no directory: ``$GATECORE_VDA5050_SCHEMAS``,
#: then ``specs/vda5050`` and ``../shared/specs/vda5050`` below the working directory, then
#: ``/usr/share/vda5050``.
SEARCH_PATH = ("$GATECORE_VDA5050_SCHEMAS", "specs/vda5050", "../shared/specs/vda5050", "/usr/share/vda5050")
MAX_ERRORS = 3


class SchemaError(Exception):
    """The schema directory is missing, or lacks a file a version needs, or holds one that is not a schema."""


def search(path: str | None) -> Path:
    """The schema directory: ``path`` if given, else the first of :data:`SEARCH_PATH` that has ``2.0.0/``."""
    if path is not None:
        return Path(path)
    for entry in SEARCH_PATH:
        text = os.environ.get(entry[1:], "") if entry.startswith("$") else entry
        if text and (Path(text) / "2.0.0").is_dir():
            return Path(text)
    raise SchemaError("no VDA 5050 schema directory: set [plugins.gate_igv] schemas, or $GATECORE_VDA5050_SCHEMAS "
                      f"(searched {', '.join(SEARCH_PATH)})")


def problems(root: Path, versions: Iterable[Version]) -> list[str]:
    """What is missing or broken in ``root`` for ``versions`` (for ``gatecore check``)."""
    out = []
    for version in versions:
        for topic in sorted(version.topics):
            path = root / version.full / version.schema_file(topic)
            try:
                jsonschema_rs.validator_for(json.loads(path.read_bytes()))
            except OSError as exc:
                out.append(f"VDA 5050 schema {path} cannot be read ({exc.strerror})")
            except (ValueError, jsonschema_rs.ValidationError, jsonschema_rs.ReferencingError) as exc:
                out.append(f"VDA 5050 schema {path} is not a JSON schema ({type(exc).__name__})")
    return out


class Schemas:
    """Validators per (version, topic), compiled on first use."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._validators: dict[tuple[str, str], Any] = {}

    def validator(self, version: Version, topic: str) -> Any:
        key = (version.full, topic)
        found = self._validators.get(key)
        if found is None:
            path = self.root / version.full / version.schema_file(topic)
            try:
                schema = json.loads(path.read_bytes())
            except (OSError, ValueError) as exc:
                raise SchemaError(f"VDA 5050 schema {path}: {type(exc).__name__}") from None
            found = self._validators[key] = jsonschema_rs.validator_for(schema, validate_formats=True)
        return found

    def errors(self, version: Version, topic: str, message: Mapping[str, Any]) -> list[str]:
        """Why ``message`` fails the schema of ``topic`` in ``version`` (at most :data:`MAX_ERRORS`), or ``[]``."""
        validator = self.validator(version, topic)
        if validator.is_valid(message):
            return []
        out = []
        for error in validator.iter_errors(message):
            where = "/".join(str(p) for p in error.instance_path) or "(root)"
            out.append(f"{where}: {error.message}")
            if len(out) >= MAX_ERRORS:
                break
        return out

    def preload(self) -> None:
        """Compile every validator now (a broken file is found at start-up, not on the first message)."""
        for version in VERSIONS.values():
            for topic in version.topics:
                self.validator(version, topic)
