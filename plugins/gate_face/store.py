"""Gallery files: one memory-mapped file per named gallery, calibration beside it.

File layout (little-endian)::

    0     magic  b"GCFACEIX"
    8     u32    format version (1)          12  u32  dimension
    16    u32    padded dimension             20  u32  number of sections (6)
    24    u64    slots                        32  u64  index version (mutation counter)
    40    6 x (u64 offset, u64 length, u32 crc32, u32 reserved)   one per section
    184   u32    crc32 of bytes 0..183
    4096  sections, each 4096-aligned: vecs f32, g_t i8, scales f32, qsums i32, alive u8,
          ids (UTF-8, one per slot, newline-separated; an empty line is a free slot)

Loading parses 188 bytes and the ids; the arrays are mapped copy-on-write, so a loaded
gallery can be changed in memory and saved again.  The small sections' checksums are always
checked; the two large ones only with ``verify=True`` (about 0.7 s per 1M x 512 gallery).
Saving writes a temporary file and renames it over the old one.
"""

from __future__ import annotations

import json
import os
import re
import struct
import zlib
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from gate_face import kernels
from gate_face.calibrate import Calibration
from gate_face.index import Arrays, EmbeddingIndex

MAGIC = b"GCFACEIX"
FORMAT_VERSION = 1
ALIGN = 4096
_HEAD = struct.Struct("<8sIIIIQQ")
_SECTION = struct.Struct("<QQII")
_NSECT = 6
_CRC_AT = _HEAD.size + _NSECT * _SECTION.size
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class GalleryFileError(ValueError):
    """A gallery file is missing, truncated, of another version, or fails its checksum."""


def _view(data: Any) -> memoryview:
    return memoryview(np.ascontiguousarray(data).reshape(-1).view(np.uint8))  # type: ignore[arg-type]


def _crc(data: Any) -> int:
    return zlib.crc32(_view(data)) & 0xFFFFFFFF


def save(index: EmbeddingIndex, path: Path) -> None:
    """Write ``index`` to ``path`` atomically."""
    a = index.arrays()
    blob = "\n".join(a.ids).encode()
    sections: list[Any] = [a.vecs, a.g_t, a.scales, a.qsums, a.alive, np.frombuffer(blob, np.uint8)]
    table, offset = [], ALIGN
    for data in sections:
        table.append((offset, data.nbytes, _crc(data), 0))
        offset = -(-(offset + data.nbytes) // ALIGN) * ALIGN
    head = _HEAD.pack(MAGIC, FORMAT_VERSION, index.dim, index.dpad, _NSECT, len(a.ids),
                      index.version)
    head += b"".join(_SECTION.pack(*row) for row in table)
    head += struct.pack("<I", zlib.crc32(head))
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(head.ljust(ALIGN, b"\0"))
        for (off, _, _, _), data in zip(table, sections, strict=True):
            f.seek(off)
            f.write(_view(data))
        f.truncate(offset)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def file_version(path: Path) -> int | None:
    """The gallery version in the header of ``path`` (cheap: the header only), or None if unreadable."""
    try:
        with open(path, "rb") as f:
            head = f.read(_CRC_AT + 4)
    except OSError:
        return None
    if len(head) < _CRC_AT + 4 or head[:8] != MAGIC:
        return None
    if struct.unpack_from("<I", head, _CRC_AT)[0] != zlib.crc32(head[:_CRC_AT]):
        return None
    iversion: int = _HEAD.unpack_from(head)[6]
    return iversion


def load(path: Path, *, verify: bool = False, rerank: int = 64) -> EmbeddingIndex:
    """Map the gallery at ``path``; raises :class:`GalleryFileError` on any inconsistency."""
    if not Path(path).is_file():
        raise GalleryFileError(f"{path}: no such gallery (create it with: gatecore face enroll)")
    try:
        raw = np.memmap(path, dtype=np.uint8, mode="c")
    except (OSError, ValueError) as exc:
        raise GalleryFileError(f"{path}: cannot map: {exc}") from exc
    head = bytes(raw[: _CRC_AT + 4])
    if len(head) < _CRC_AT + 4 or head[:8] != MAGIC:
        raise GalleryFileError(f"{path}: not a gallery file")
    _, version, dim, dpad, nsect, slots, iversion = _HEAD.unpack_from(head)
    if version != FORMAT_VERSION or nsect != _NSECT:
        raise GalleryFileError(f"{path}: format version {version}, expected {FORMAT_VERSION}")
    if struct.unpack_from("<I", head, _CRC_AT)[0] != zlib.crc32(head[:_CRC_AT]):
        raise GalleryFileError(f"{path}: header checksum mismatch")
    table = [_SECTION.unpack_from(head, _HEAD.size + i * _SECTION.size) for i in range(_NSECT)]
    parts = []
    for i, (off, length, crc, _) in enumerate(table):
        if off + length > raw.shape[0]:
            raise GalleryFileError(f"{path}: truncated")
        part = raw[off: off + length]
        if (verify or i >= 2) and _crc(part) != crc:
            raise GalleryFileError(f"{path}: checksum mismatch in section {i}")
        parts.append(part)
    nb = -(-slots // kernels.LANES)
    ids = bytes(parts[5]).decode().split("\n") if slots else []
    if len(ids) != slots:
        raise GalleryFileError(f"{path}: {len(ids)} ids for {slots} slots")
    arrays = Arrays(
        vecs=parts[0].view(np.float32).reshape(slots, dpad),
        g_t=parts[1].view(np.int8).reshape(nb, dpad // kernels.GROUP, kernels.LANES, kernels.GROUP),
        scales=parts[2].view(np.float32), qsums=parts[3].view(np.int32), alive=parts[4],
        ids=ids)
    return EmbeddingIndex.from_arrays(dim, arrays, version=iversion, rerank=rerank)


class GalleryStore:
    """Named galleries (``watchlist``, ``residents``, ...) in one directory."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, name: str) -> Path:
        if not _NAME.match(name):
            raise ValueError(f"gallery name {name!r}: use a-z, 0-9, '-' and '_' (max 64)")
        return self.root / f"{name}.gcidx"

    def names(self) -> list[str]:
        return sorted(p.name[: -len(".gcidx")] for p in self.root.glob("*.gcidx"))

    def load(self, name: str, *, verify: bool = False) -> EmbeddingIndex:
        return load(self.path(name), verify=verify)

    def save(self, name: str, index: EmbeddingIndex) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        save(index, self.path(name))

    def calibration(self, name: str) -> Calibration | None:
        p = self.path(name).with_suffix(".calib.json")
        return Calibration(**json.loads(p.read_text())) if p.exists() else None

    def save_calibration(self, name: str, cal: Calibration) -> None:
        p = self.path(name).with_suffix(".calib.json")
        tmp = p.with_name(p.name + ".tmp")
        tmp.write_text(json.dumps(asdict(cal), indent=2) + "\n")
        os.replace(tmp, p)
