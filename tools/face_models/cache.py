"""A converted copy of the installed package's models, made once and kept (for tests and benchmarks)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from face_models.install import CONVERSIONS, MANIFEST, install, package_models


def cached_install(root: Path) -> Path:
    """A directory under ``root`` holding what :func:`install` writes, converted only when no copy made
    by this converter from these source files exists yet (the key hashes both)."""
    source, version = package_models()
    h = hashlib.sha256(version.encode())
    for src in sorted(Path(__file__).parent.glob("*.py")):
        h.update(src.read_bytes())
    for c in CONVERSIONS:
        h.update(hashlib.sha256((source / c.source).read_bytes()).digest())
    target = root / h.hexdigest()[:16]
    if (target / MANIFEST).is_file():
        json.loads((target / MANIFEST).read_text(encoding="utf-8"))
        return target
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".install-", dir=root))
    try:
        install(work, source, version, say=lambda _: None)
        try:
            os.rename(work, target)
        except OSError:  # made meanwhile by another process: keep that one
            if not (target / MANIFEST).is_file():
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for old in root.iterdir():  # copies made by an earlier converter or from another package: not needed again
        if old != target and old.is_dir() and len(old.name) == 16 and not old.name.startswith("."):
            shutil.rmtree(old, ignore_errors=True)
    return target
