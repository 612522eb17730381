"""Generated image banks kept on disk, so that a new process need not draw them again.

Training mixes in digits typed in the system's fonts (``cnn.fonts``) and drawn non-digits
(``cnn.outliers``). Each bank takes ~2 s to draw and prepare, paid by the first training
of every process (a worker, the CLI), which is a third of a fast-default training. The
banks depend only on this package's code and the fonts installed, so they are saved as
``.npz`` files under a key made of both; any change to either makes a new key. A cache
that cannot be read or written is no error: the bank is drawn as before.

Where: ``CNN_CACHE_DIR``, else ``$XDG_CACHE_HOME/cnn``, else ``~/.cache/cnn``.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)
PACKAGE = Path(__file__).resolve().parent


def cache_dir() -> Path:
    explicit = os.environ.get("CNN_CACHE_DIR")
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cnn"


def cached(name: str, make: Callable[[], dict[str, np.ndarray]], fonts: list[Path]) -> dict[str, np.ndarray]:
    """``make()``'s arrays, from the cache when this code and these font files made them."""
    path = cache_dir() / f"{name}-{_key(fonts)}.npz"
    try:
        with np.load(path, allow_pickle=False) as saved:
            return {k: saved[k] for k in saved.files}
    except FileNotFoundError:
        pass
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:  # half-written, damaged
        log.warning("drawing the %s bank again: its cache %s cannot be read (%s)", name, path, exc)
    arrays = make()
    _save(path, arrays)
    return arrays


def _key(fonts: list[Path]) -> str:
    """A digest of every module of the package and the fonts' names and sizes."""
    digest = hashlib.sha256()
    for source in sorted(PACKAGE.glob("*.py")):
        digest.update(source.name.encode() + b"\0" + source.read_bytes())
    for font in fonts:
        try:
            size = font.stat().st_size
        except OSError:
            size = -1
        digest.update(f"{font}\0{size}\0".encode())
    return digest.hexdigest()[:20]


def _save(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write to a temporary file and rename it (a reader never sees half a bank), then drop
    the banks older code made."""
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as out:
            np.savez(out, **arrays)
        os.replace(tmp, path)
        name = path.name.rsplit("-", 1)[0]
        for old in path.parent.glob(f"{name}-*.npz"):
            if old != path:
                old.unlink(missing_ok=True)
    except OSError as exc:
        log.warning("cannot keep the bank in %s (%s); it will be drawn again next time", path.parent, exc)
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
