"""MNIST, loaded from the bundled file so the app works offline.

Load order: an explicit path (argument or ``MNIST_PATH``), the file bundled in
``data/mnist.npz``, keras' cache (``~/.keras/datasets/mnist.npz``), keras' download.
Whatever is loaded is checked against the sha256 of each array (from the data's
README), so a damaged file is caught here rather than as a mysteriously bad model.
"""

from __future__ import annotations

import hashlib
import os
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cnn.errors import CnnError

ROOT = Path(__file__).resolve().parent.parent
BUNDLED = ROOT / "data" / "mnist.npz"
KERAS_CACHE = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "datasets" / "mnist.npz"

# sha256 of each array's raw bytes; holds for this file and for keras' own download.
SHA256 = {
    "x_train": "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
    "y_train": "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13",
    "x_test": "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
    "y_test": "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5",
}
SHAPES = {"x_train": (60000, 28, 28), "y_train": (60000,), "x_test": (10000, 28, 28), "y_test": (10000,)}


@dataclass(frozen=True)
class Mnist:
    """The four MNIST arrays, uint8, read-only, plus where they came from."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str


_cache: dict[str, Mnist] = {}
_lock = threading.Lock()


def load_mnist(path: str | os.PathLike | None = None) -> Mnist:
    """The verified MNIST arrays; cheap after the first call in a process."""
    explicit = path or os.environ.get("MNIST_PATH")
    key = str(Path(explicit).resolve()) if explicit else ""
    with _lock:
        if key not in _cache:
            _cache[key] = _load(Path(explicit) if explicit else None)
        return _cache[key]


def _load(explicit: Path | None) -> Mnist:
    if explicit is not None:
        # A path the user named is used or refused, never silently replaced.
        return _read_verified(explicit)
    for candidate in (BUNDLED, KERAS_CACHE):
        if candidate.exists():
            return _read_verified(candidate)
    return _download()


def _download() -> Mnist:
    try:
        from keras.datasets import mnist

        mnist.load_data()  # fills keras' cache, which we then read and verify
    except Exception as exc:  # no network, proxy, disk...: all end the same way for the user
        raise CnnError(
            f"MNIST is not available: looked for {BUNDLED} and {KERAS_CACHE}, and keras' download "
            f"failed ({type(exc).__name__}: {exc}). Restore data/mnist.npz from the repository "
            "(git checkout data/mnist.npz) or set MNIST_PATH to a copy of mnist.npz."
        ) from None
    return _read_verified(KERAS_CACHE)


def _read_verified(path: Path) -> Mnist:
    what_to_do = (
        "Restore it (for the bundled copy: git checkout data/mnist.npz), delete it so keras "
        "can download a fresh one, or point MNIST_PATH at a good copy."
    )
    if not path.is_file():
        raise CnnError(f"MNIST file {path} does not exist. {what_to_do}")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in SHA256}
    except KeyError as exc:
        raise CnnError(f"MNIST file {path} lacks the array {exc}. {what_to_do}") from None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise CnnError(f"MNIST file {path} cannot be read ({exc}). {what_to_do}") from None
    for name, array in arrays.items():
        if array.shape != SHAPES[name] or array.dtype != np.uint8:
            raise CnnError(
                f"MNIST file {path}: {name} is {array.dtype}{array.shape}, expected uint8{SHAPES[name]}. {what_to_do}"
            )
        if hashlib.sha256(array.tobytes()).hexdigest() != SHA256[name]:
            raise CnnError(f"MNIST file {path}: {name} is damaged (checksum mismatch). {what_to_do}")
        array.setflags(write=False)
    return Mnist(**arrays, source=str(path))
