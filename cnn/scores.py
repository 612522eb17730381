"""How well each saved run reads drawings, beside its MNIST test accuracy: on the drawn-digit
evaluation set (``cnn.handwriting``, digits unlike MNIST's) and on the class's own labelled
drawings (``cnn.collection``).

Preparing the 2,560 drawn digits the MNIST way takes a few seconds, and does not depend on
the model: it is done once per process. Scoring a model is then one batched forward pass.
Scores are kept in ``scores.json`` beside the runs, keyed by the model file's version (and,
for the class's drawings, by the collection's), so pages do not score a run twice, even
across restarts or app processes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading

import numpy as np

from cnn.collection import Drawing, as_arrays
from cnn.store import RunInfo, write_json

SCORES_FILE = "scores.json"
_prepared: tuple[np.ndarray, np.ndarray] | None = None
_lock = threading.Lock()


def drawn_set_prepared() -> tuple[np.ndarray, np.ndarray]:
    """(x (n, 28, 28) float32, y (n,)) of the drawn-digit set as the app prepares drawings;
    a drawing with no digit found is all zeros (and so, almost always, read wrong)."""
    global _prepared
    with _lock:
        if _prepared is None:
            from cnn.handwriting import load_drawn_set
            from cnn.preprocess import to_mnist

            digits = load_drawn_set()
            images = [to_mnist(image) for image in digits.files()]
            x = np.stack([np.zeros((28, 28), np.float32) if a is None else a for a in images])
            _prepared = (x, np.asarray(digits.labels))
        return _prepared


def _accuracy(run: RunInfo, x: np.ndarray, y: np.ndarray) -> float:
    from cnn.predict import classifier_for

    if not len(x):
        return float("nan")
    return float((classifier_for(run).probabilities(x).argmax(axis=1) == y).mean())


def drawn_accuracy(run: RunInfo) -> float:
    """``run``'s accuracy on the drawn-digit evaluation set."""
    return _cached(run, "drawn", lambda: _accuracy(run, *drawn_set_prepared()))


def class_accuracy(run: RunInfo, drawings: list[Drawing]) -> float | None:
    """``run``'s accuracy on the class's labelled drawings (None when there are none). A
    fine-tuned run was taught some of them: read its own report for an honest figure."""
    if not drawings:
        return None
    signature = hashlib.sha1("".join(d.id for d in drawings).encode()).hexdigest()[:12]
    x, y = as_arrays(drawings)
    return _cached(run, f"class-{signature}", lambda: _accuracy(run, x.astype(np.float32) / 255.0, y))


def _cached(run: RunInfo, what: str, score) -> float:
    stat = run.model_path.stat()
    key = f"{run.id}:{stat.st_mtime_ns}:{stat.st_size}:{what}"
    path = run.path.parent / SCORES_FILE
    try:
        known = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(known, dict):
            known = {}
    except (OSError, ValueError, RecursionError):
        known = {}
    value = known.get(key)
    if isinstance(value, (int, float)) and 0.0 <= value <= 1.0:
        return float(value)
    value = score()
    live = {k: v for k, v in known.items() if (run.path.parent / k.split(":")[0]).is_dir()}  # deleted runs' go
    with contextlib.suppress(OSError):  # a read-only runs folder: score again next time
        write_json(path, {**live, key: value})
    return value
