"""Fonts for the plate renderer, from named Debian font packages (never downloaded by the tool).

``python -m tools.plates.fonts`` lists what is found; ``--install`` runs apt-get for the missing packages.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path

# role -> (Debian package, font file) candidates, preferred first
LATIN = (
    ("fonts-dejavu-core", "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"),
    ("fonts-dejavu-extra", "/usr/share/fonts/truetype/dejavu/DejaVuSansCondensed-Bold.ttf"),
    ("fonts-liberation2", "/usr/share/fonts/truetype/liberation2/LiberationSans-Bold.ttf"),
    ("fonts-freefont-ttf", "/usr/share/fonts/truetype/freefont/FreeSansBold.ttf"),
    ("fonts-urw-base35", "/usr/share/fonts/opentype/urw-base35/NimbusSansNarrow-Bold.otf"),
    ("fonts-urw-base35", "/usr/share/fonts/opentype/urw-base35/NimbusSans-Bold.otf"),
)
HAN = (
    ("fonts-wqy-zenhei", "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),
    ("fonts-noto-cjk", "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc"),
    ("fonts-droid-fallback", "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf"),
)
REQUIRED = ("fonts-dejavu-core", "fonts-wqy-zenhei")  # what `--install` installs when a role has no font
INSTALL_HINT = "apt-get install -y " + " ".join(REQUIRED)


class FontsMissing(RuntimeError):
    """No font of a role (Latin or Han) is installed."""


def _found(candidates: tuple[tuple[str, str], ...]) -> tuple[Path, ...]:
    return tuple(Path(p) for _, p in candidates if Path(p).is_file())


@cache
def latin_fonts() -> tuple[Path, ...]:
    """Installed bold sans fonts for letters and digits; raises `FontsMissing` with the install command."""
    found = _found(LATIN)
    if not found:
        raise FontsMissing(f"no Latin font found; install one: {INSTALL_HINT}")
    return found


@cache
def han_fonts() -> tuple[Path, ...]:
    """Installed fonts with the Han characters of Chinese plates; raises `FontsMissing` with the command."""
    found = _found(HAN)
    if not found:
        raise FontsMissing(f"no Han font found; install one: {INSTALL_HINT}")
    return found


def install() -> int:
    """apt-get install the required packages (needs root); returns the exit code."""
    apt = shutil.which("apt-get")
    if apt is None:
        print(f"apt-get not found; install the packages {' '.join(REQUIRED)} by hand", file=sys.stderr)
        return 1
    return subprocess.call([apt, "install", "-y", "-q", *REQUIRED])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--install", action="store_true", help="apt-get install the missing font packages")
    args = parser.parse_args(argv)
    missing = not _found(LATIN) or not _found(HAN)
    if missing and args.install:
        rc = install()
        if rc:
            return rc
    for role, candidates in (("latin", LATIN), ("han", HAN)):
        for package, path in candidates:
            print(f"{role:6s} {'found  ' if Path(path).is_file() else 'missing'} {package:22s} {path}")
    if not _found(LATIN) or not _found(HAN):
        print(f"missing a role; run: {INSTALL_HINT}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
