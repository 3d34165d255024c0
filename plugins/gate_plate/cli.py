"""``gatecore plate read IMAGE...``: one JSON line per image, plates and container codes best first.

    {"file": "truck.jpg", "plates": [{"text": "51G12345", "country": "VN", "layout": "one_row",
     "confidence": 0.97, "box": [812.0, 640.5, 1010.0, 690.0], "valid": true}], "codes": [...]}

``valid`` says whether the text follows its format's rules (the check digit, for a code). An image that is
missing, empty or cannot be decoded gives ``{"file": ..., "error": "..."}`` and the exit code 1; models that
cannot be loaded are reported on stderr with the exit code 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from . import formats, models


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    plate = subparsers.add_parser("plate", help="plate and container-code tools")
    sub = plate.add_subparsers(dest="plate_cmd", required=True)
    r = sub.add_parser("read", help="print one JSON line per image with the plates and codes read in it")
    r.add_argument("images", nargs="+", metavar="IMAGE")
    r.add_argument("--crop", action="store_true", help="each image is one rectified plate or code (no detection)")
    r.add_argument("--detector", help="detector model folder (default: the one shipped)")
    r.add_argument("--recogniser", help="recogniser model folder (default: the one shipped)")
    r.add_argument("--threads", type=int, default=1, help="onnxruntime threads per model (default 1)")
    r.set_defaults(func=cmd_read)


class ImageError(ValueError):
    """An image that cannot be read; the message says why, for the JSON line."""


def load_image(path: Path) -> Any:
    """The image at ``path`` as a BGR array; :class:`ImageError` if it is missing, empty or not an image."""
    import cv2
    import numpy as np

    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ImageError("no such file") from None
    except OSError as exc:
        raise ImageError(f"cannot read the file ({exc.strerror})") from None
    if not data:
        raise ImageError("an empty file")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None or image.size == 0:
        raise ImageError("not a decodable image (corrupt or unsupported format)")
    return image


def read_json(read: Any, box: list[float] | None = None) -> dict[str, Any]:
    """One plate or code as the command prints it."""
    out: dict[str, Any] = {"text": read.text}
    if read.kind == "plate":
        out["country"] = read.country
    out.update(layout=read.layout, confidence=round(float(read.confidence), 4),
               box=[round(float(v), 1) for v in (box if box is not None else read.box)],
               valid=formats.validate(read.text, kind=read.kind) is None)
    return out


def image_json(name: str, reads: list[Any], box: list[float] | None = None) -> dict[str, Any]:
    ranked = sorted(reads, key=lambda r: -float(r.confidence))
    return {"file": name, "plates": [read_json(r, box) for r in ranked if r.kind == "plate" and r.text],
            "codes": [read_json(r, box) for r in ranked if r.kind == "container" and r.text]}


def _reader(args: argparse.Namespace) -> Any:
    """The reader: a recogniser alone with ``--crop``, else the whole-frame reader."""
    problem = models.runtime_problem()
    folders = [] if args.crop else [models.folder("detect", args.detector)]
    for folder in [*folders, models.folder("recog", args.recogniser)]:
        problem = problem or models.problem(folder)
    if problem:
        raise RuntimeError(problem)
    if args.crop:
        from .recognise import Recogniser

        return Recogniser(models.folder("recog", args.recogniser), threads=args.threads)
    return models.open_reader(args.detector, args.recogniser, args.threads)


def cmd_read(args: argparse.Namespace, reader: Any = None) -> int:
    """Read each image with ``reader`` (by default the models' reader, or recogniser with ``--crop``)."""
    try:
        reader = reader or _reader(args)
    except (RuntimeError, OSError, ValueError) as exc:
        print(f"gatecore plate read: {exc}", file=sys.stderr)
        return 2
    failed = 0
    for name in args.images:
        try:
            image = load_image(Path(name))
            if args.crop:
                h, w = image.shape[:2]
                line = image_json(name, [reader.read(image)], [0.0, 0.0, float(w), float(h)])
            else:
                line = image_json(name, list(reader.read(image)))
        except (ImageError, ValueError) as exc:
            line = {"file": name, "error": str(exc)}
            failed += 1
        print(json.dumps(line, ensure_ascii=False), flush=True)
    return 1 if failed else 0
