"""The model folders (``models/detect``, ``models/recog`` beside this file, or folders the profile names),
checked without loading them, and the plate reader made from them.

A folder holds ``model.onnx``, the ``config.json`` inference reads and the ``recipe.json`` training wrote,
with the SHA-256 of the ``model.onnx`` it made: a folder whose model is not the one its recipe made is
refused (``gatecore check`` says so at the profile's key). A head the config names (the recogniser's
``province`` folder) is a model folder too, checked the same way."""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .reader import PlateReader

SHIPPED = Path(__file__).resolve().parent / "models"
FILES = ("model.onnx", "config.json", "recipe.json")
RUNTIME = {"onnxruntime": "onnxruntime", "cv2": "opencv-python-headless"}


def folder(name: str, configured: str | None) -> Path:
    """The folder of model ``name`` (``"detect"`` or ``"recog"``): the one configured, or the one shipped."""
    return Path(configured) if configured else SHIPPED / name


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def problem(path: Path) -> str | None:
    """Why the model folder at ``path`` cannot be used, or ``None``."""
    missing = [f for f in FILES if not (path / f).is_file()]
    if missing:
        return f"model folder {path} has no {', '.join(missing)}"
    try:
        recipe: Any = json.loads((path / "recipe.json").read_text(encoding="utf-8"))
        config: Any = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return f"model folder {path}: cannot read its JSON files: {exc}"
    wanted = recipe.get("model_sha256") if isinstance(recipe, dict) else None
    if not isinstance(wanted, str):
        return f"{path / 'recipe.json'} records no SHA-256 of the model"
    actual = sha256_file(path / "model.onnx")
    if actual != wanted.lower():
        return f"{path / 'model.onnx'} has SHA-256 {actual[:16]}..., its recipe.json says {wanted[:16]}..."
    head = config.get("province") if isinstance(config, dict) else None
    if isinstance(head, dict) and isinstance(head.get("folder"), str):  # the recogniser's province head
        return problem(path / head["folder"])
    return None


def runtime_problem() -> str | None:
    """Which libraries reading needs are not installed, or ``None``."""
    missing = [pkg for module, pkg in RUNTIME.items() if importlib.util.find_spec(module) is None]
    return f"not installed: {', '.join(missing)} (pip install 'gatecore[plate]')" if missing else None


def open_reader(detector: str | None, recogniser: str | None, threads: int) -> PlateReader:
    """The plate reader of the configured (or shipped) models. Slow (loads the models): while the site is
    built, or in a command."""
    from .detect import Detector
    from .reader import PlateReader
    from .recognise import Recogniser

    return PlateReader(Detector(folder("detect", detector), threads=threads),
                       Recogniser(folder("recog", recogniser), threads=threads))
