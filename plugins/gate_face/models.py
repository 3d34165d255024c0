"""Model files: loaded by path from the profile, pinned by SHA-256, never downloaded."""

from __future__ import annotations

import hashlib
from pathlib import Path


class ModelError(RuntimeError):
    """A model file is missing, does not match its pinned hash, or cannot be loaded."""


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def check_model(path: Path | str, sha256: str) -> Path:
    """Return ``path`` when it exists and hashes to ``sha256``; raise :class:`ModelError`."""
    p = Path(path)
    if not p.is_file():
        raise ModelError(f"model file {p} is missing (install it as described in "
                         "plugins/gate_face/README.md; nothing is downloaded at run time)")
    actual = sha256_file(p)
    if actual != sha256.lower():
        raise ModelError(f"model file {p} has SHA-256 {actual}, the profile pins {sha256.lower()}")
    return p
