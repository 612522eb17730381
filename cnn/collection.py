"""The class's labelled drawings: corrections that become training data.

"It got my 7 wrong: it's a 7" saves the drawing with its label. Each drawing is one file,
``drawings/<id>.npz`` beside the runs, holding the drawing as it was (shrunk to at most
280 px a side), the 28x28 the model saw, the label, which model answered what, when and
who. Files are written whole and renamed into place, like the runs, so thirty students
labelling at once never collide and a crash mid-write leaves at worst a hidden leftover
that listings ignore.

``export`` writes the collection in MNIST's own layout (``x`` uint8 (n, 28, 28), ink
bright on black; ``y`` uint8 (n,)) for use elsewhere.
"""

from __future__ import annotations

import io
import os
import secrets
import threading
import time
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from PIL import Image

from cnn.errors import CnnError
from cnn.preprocess import prepare
from cnn.store import DRAWINGS_FOLDER, runs_dir

FOLDER = DRAWINGS_FOLDER
KEEP_SIDE = 280  # drawings are kept at most this size a side (a canvas is 280x280)
MAX_PER_STUDENT = 300
MAX_TOTAL = 10_000
LEFTOVER_AGE = 3600

_lock = threading.Lock()  # counts and writes in one process; other processes are kept apart by the atomic rename


@dataclass(frozen=True)
class Drawing:
    id: str
    label: int
    prepared: np.ndarray  # (28, 28) uint8, ink bright: what the model saw
    created: str
    owner: str = ""  # the owner key of who labelled it ("" from the command line)
    owner_name: str = ""
    run: str = ""  # the run that answered, if any
    predicted: int = -1  # its answer (-1: none)
    confidence: float = 0.0

    @property
    def wrong(self) -> bool:
        """The model's answer was not the label (a correction)."""
        return self.predicted >= 0 and self.predicted != self.label

    def original(self, root: Path | None = None) -> np.ndarray:
        """The drawing as it was labelled (read from disk on demand)."""
        with np.load(folder(root) / f"{self.id}.npz", allow_pickle=False) as z:
            return z["original"]


def folder(root: Path | None = None) -> Path:
    return (root or runs_dir()) / FOLDER


def check_label(label: object) -> int:
    text = str(label).strip()
    if len(text) != 1 or not text.isdigit():
        raise CnnError(f"{label!r} is not a digit: a label is one of 0 to 9.")
    return int(text)


def add_drawing(
    image: np.ndarray,
    label: object,
    *,
    run: str = "",
    predicted: int = -1,
    confidence: float = 0.0,
    owner: str = "",
    owner_name: str = "",
    root: Path | None = None,
) -> Drawing:
    """Save one labelled drawing; CnnError for a label that is not 0-9, a drawing with no
    digit in it, or a collection (or a student's share of it) that is full."""
    digit = check_label(label)
    prepared = prepare(image)
    if prepared is None:
        raise CnnError("There is no digit in this drawing (it is blank or only specks): nothing was saved.")
    where = folder(root)
    with _lock:
        drawings = list_drawings(root)
        if len(drawings) >= MAX_TOTAL:
            raise CnnError(
                f"The class's collection is full ({MAX_TOTAL:,} drawings). Ask the teacher to clear some of it."
            )
        if owner and sum(d.owner == owner for d in drawings) >= MAX_PER_STUDENT:
            raise CnnError(
                f"You have labelled {MAX_PER_STUDENT} drawings, the most one student may: thank you! "
                "Ask the teacher to clear some if you want to add more."
            )
        created = datetime.now(UTC).isoformat(timespec="seconds")
        drawing = Drawing(
            id=f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(4)}",
            label=digit,
            prepared=np.round(prepared.image * 255).astype(np.uint8),
            created=created,
            owner=owner,
            owner_name=owner_name,
            run=run,
            predicted=int(predicted),
            confidence=float(confidence),
        )
        _write(where, drawing, _kept(image))
    return drawing


def list_drawings(root: Path | None = None) -> list[Drawing]:
    """Every saved drawing, oldest first; unreadable files are skipped (and reported by ``damaged``)."""
    return [d for d in (_read(p) for p in _files(root)) if d is not None]


def count(root: Path | None = None) -> int:
    """How many drawings the class has labelled, from the folder's listing alone (a damaged
    file counts too; ``damaged`` names them). The Draw page asks after every stroke, where
    ``list_drawings`` checks every file: 2.9 ms a stroke at 300 drawings, this 0.15 ms."""
    return len(_entries(root))


def damaged(root: Path | None = None) -> list[str]:
    """Names of drawing files that cannot be read."""
    return [p.name for p in _files(root) if _read(p) is None]


def delete_drawing(drawing_id: str, root: Path | None = None) -> None:
    path = folder(root) / f"{drawing_id}.npz"
    if "/" in drawing_id or drawing_id.startswith(".") or not path.is_file():
        raise CnnError(f"There is no drawing {drawing_id!r}; it may have been deleted already.")
    path.unlink()


def clear(root: Path | None = None) -> int:
    """Delete every drawing; returns how many there were."""
    files = _files(root)
    for p in files:
        p.unlink(missing_ok=True)
    return len(files)


def as_arrays(drawings: list[Drawing]) -> tuple[np.ndarray, np.ndarray]:
    """(x uint8 (n, 28, 28), y uint8 (n,)): MNIST's layout."""
    x = np.stack([d.prepared for d in drawings]) if drawings else np.zeros((0, 28, 28), np.uint8)
    return x.astype(np.uint8), np.array([d.label for d in drawings], np.uint8)


def export(path: str | os.PathLike, root: Path | None = None) -> int:
    """Write the collection as an MNIST-style .npz (``x``, ``y``); returns how many drawings."""
    drawings = list_drawings(root)
    if not drawings:
        raise CnnError("The class's collection is empty: label some drawings first (Draw page, or `cnn label`).")
    x, y = as_arrays(drawings)
    try:
        np.savez_compressed(path, x=x, y=y)
    except OSError as exc:
        raise CnnError(f"Could not write {os.fspath(path)!r} ({exc.strerror or exc}).") from None
    return len(drawings)


def _kept(image: np.ndarray) -> np.ndarray:
    """The drawing shrunk to at most KEEP_SIDE a side, as uint8 (the collection stays small)."""
    a = np.asarray(image)
    if a.dtype != np.uint8:
        a = np.clip(np.asarray(a, np.float32) * (255 if a.max() <= 1 else 1), 0, 255).astype(np.uint8)
    h, w = a.shape[:2]
    if max(h, w) <= KEEP_SIDE:
        return a
    scale = KEEP_SIDE / max(h, w)
    return np.asarray(Image.fromarray(a).resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.BOX))


def _write(where: Path, drawing: Drawing, original: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.savez_compressed(
        buffer,
        original=original,
        prepared=drawing.prepared,
        label=np.uint8(drawing.label),
        meta=np.array(
            [
                drawing.created,
                drawing.owner,
                drawing.owner_name,
                drawing.run,
                str(drawing.predicted),
                repr(drawing.confidence),
            ]
        ),
    )
    tmp = where / f".tmp-{drawing.id}.npz"
    try:
        where.mkdir(parents=True, exist_ok=True)
        _sweep(where)
        with open(tmp, "wb") as f:
            f.write(buffer.getvalue())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, where / f"{drawing.id}.npz")  # the moment the drawing appears, whole
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise CnnError(
            f"Could not save the drawing in {where} ({exc.strerror or exc}): is the disk full or the folder "
            "read-only? Nothing else was changed."
        ) from None


def _entries(root: Path | None) -> list[os.DirEntry]:
    """The folder's drawing files, unsorted (hidden leftovers of a write left out)."""
    try:
        with os.scandir(folder(root)) as entries:
            return [e for e in entries if e.name.endswith(".npz") and not e.name.startswith(".") and e.is_file()]
    except (FileNotFoundError, NotADirectoryError):
        return []


def _files(root: Path | None) -> list[Path]:
    return sorted(Path(e.path) for e in _entries(root))


_cache: dict[Path, tuple[tuple, Drawing]] = {}


def _read(path: Path) -> Drawing | None:
    """One drawing file (without its original image), cached until the file changes."""
    try:
        stat = path.lstat()
        stamp = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        cached = _cache.get(path)
        if cached and cached[0] == stamp:
            return cached[1]
        with np.load(path, allow_pickle=False) as z:
            created, owner, owner_name, run, predicted, confidence = (str(v) for v in z["meta"])
            prepared = z["prepared"]
            if prepared.shape != (28, 28) or prepared.dtype != np.uint8:
                return None
            drawing = Drawing(
                id=path.stem,
                label=check_label(int(z["label"])),
                prepared=prepared,
                created=created,
                owner=owner,
                owner_name=owner_name,
                run=run,
                predicted=int(predicted),
                confidence=float(confidence),
            )
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError, CnnError):
        return None
    _cache[path] = (stamp, drawing)
    return drawing


def _sweep(where: Path) -> None:
    """Remove temporary files that a crash left behind long ago."""
    for p in where.glob(".tmp-*"):
        try:
            if time.time() - p.stat().st_mtime > LEFTOVER_AGE:
                p.unlink()
        except OSError:
            pass
