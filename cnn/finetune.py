"""Teach a saved model the class's handwriting: train it further on MNIST plus the class's
labelled drawings, and say honestly what changed.

Each step's batch is mostly MNIST (so the model keeps what it knew) and a fixed share of
the class's drawings, augmented (so a few dozen drawings count, without being learnt by
heart). The report compares the model before and after on the MNIST test set and on class
drawings the fine-tune never saw: a held-back share, or, with fewer than ``MIN_HELD_BACK``
drawings, k-fold cross-validation (k fine-tunes, each scored on the fold it left out);
the saved model is then taught on all of them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from cnn import runtime
from cnn.augment import augment
from cnn.collection import Drawing, as_arrays
from cnn.config import TrainConfig
from cnn.data import Mnist, load_mnist
from cnn.errors import CnnError
from cnn.records import History, Snapshot
from cnn.store import RunInfo, load_model
from cnn.train import TrainResult, evaluate, probabilities

STEPS = 150
BATCH, DRAWINGS_PER_BATCH = 128, 32  # a quarter of each batch: the class's drawings
LEARNING_RATE = 5e-4  # a tenth of training's peak: nudge the model, don't retrain it
HELD_BACK = 0.3
MIN_HELD_BACK = 40  # below this many drawings, cross-validate instead of holding some back
FOLDS = 3
MIN_DRAWINGS = 6
# Drawings are already prepared the MNIST way: small shifts, turns and pen changes only.
AUGMENT = TrainConfig(shift=0.06, rotation=10.0, scale=0.08, thickness=0.5)


@dataclass(frozen=True)
class TeachReport:
    drawings: int  # drawings the saved model was taught on
    method: str  # "held back 30% (n)" or "3-fold cross-validation"
    mnist_before: float
    mnist_after: float
    drawings_before: float  # on drawings the fine-tune did not see
    drawings_after: float
    seconds: float  # teaching the saved model (cross-validation not included)

    def lines(self) -> list[str]:
        """The two pairs of numbers, as the CLI ends with them."""
        return [
            f"MNIST test: {self.mnist_before:.2%} -> {self.mnist_after:.2%}",
            f"class drawings ({self.method}): {self.drawings_before:.1%} -> {self.drawings_after:.1%}",
        ]

    def to_dict(self) -> dict:
        return {
            "drawings": self.drawings,
            "method": self.method,
            "mnist": [self.mnist_before, self.mnist_after],
            "class_drawings": [self.drawings_before, self.drawings_after],
            "seconds": self.seconds,
        }


def finetune(
    run: RunInfo,
    drawings: list[Drawing],
    *,
    data: Mnist | None = None,
    seed: int = 0,
    steps: int = STEPS,
    on_progress: Callable[[Snapshot], None] | None = None,
    stop: threading.Event | None = None,
    history: History | None = None,
) -> tuple[TrainResult, TeachReport]:
    """``run``'s model taught on MNIST plus ``drawings``, and the honest before/after.

    ``history`` (if given) grows with the saved model's teaching, for a live chart."""
    if len(drawings) < MIN_DRAWINGS:
        raise CnnError(
            f"Teaching needs at least {MIN_DRAWINGS} labelled drawings (there are {len(drawings)}): label a few "
            "more on the Draw page first."
        )
    data = data or load_mnist()
    x, y = as_arrays(drawings)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x))
    before = load_model(run)
    if len(x) >= MIN_HELD_BACK:
        cut = int(round(len(x) * HELD_BACK))
        held, taught = order[:cut], order[cut:]
        method = f"held back {HELD_BACK:.0%}, {cut} drawings"
        drawings_before = _accuracy(before, x[held], y[held])
    else:
        held, taught = None, order
        method = f"{FOLDS}-fold cross-validation"
        folds = np.array_split(order, FOLDS)
        right_before = right_after = 0
        for k, fold in enumerate(folds):
            rest = np.concatenate([f for j, f in enumerate(folds) if j != k])
            model, _ = _teach(run, x[rest], y[rest], data, seed + 1 + k, steps, None, stop, History())
            right_before += _right(before, x[fold], y[fold])
            right_after += _right(model, x[fold], y[fold])
        drawings_before = right_before / len(x)

    started = time.perf_counter()
    model, history = _teach(
        run, x[taught], y[taught], data, seed, steps, on_progress, stop, history if history is not None else History()
    )
    seconds = time.perf_counter() - started
    test = evaluate(model, data)
    drawings_after = _accuracy(model, x[held], y[held]) if held is not None else right_after / len(x)
    steps_done = len(history.step)
    result = TrainResult(
        config=run.config,
        model=model,
        history=history,
        test=test,
        stopped=steps_done < steps,
        steps=steps_done,
        train_seconds=seconds,
        eval_seconds=0.0,
        images_per_s=steps_done * BATCH / max(seconds, 1e-9),
        parameters=model.count_params(),
    )
    report = TeachReport(
        drawings=len(taught),
        method=method,
        mnist_before=run.test_accuracy or evaluate(before, data).accuracy,
        mnist_after=test.accuracy,
        drawings_before=drawings_before,
        drawings_after=drawings_after,
        seconds=seconds,
    )
    return result, report


def _teach(run, x_draw, y_draw, data: Mnist, seed: int, steps: int, on_progress, stop, history: History):
    """A fresh copy of ``run``'s model after ``steps`` mixed batches; (model, ``history`` grown)."""
    import tensorflow as tf

    keras = runtime.keras()
    keras.utils.set_random_seed(seed)
    model = load_model(run)
    model.compile(
        optimizer=keras.optimizers.Adam(LEARNING_RATE), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    rng = np.random.default_rng(seed)
    mnist_per_batch = BATCH - DRAWINGS_PER_BATCH
    started = time.perf_counter()
    for step in range(1, steps + 1):
        if stop is not None and stop.is_set():
            break
        m = rng.integers(0, len(data.x_train), mnist_per_batch)
        d = rng.integers(0, len(x_draw), DRAWINGS_PER_BATCH)
        images = np.concatenate([data.x_train[m], x_draw[d]]).astype(np.float32)[..., None] / 255.0
        images = augment(tf.constant(images), AUGMENT)
        labels = np.concatenate([data.y_train[m], y_draw[d]]).astype(np.int32)
        loss, accuracy = model.train_on_batch(images, labels)[:2]
        history.step.append(step)
        history.loss.append(float(loss))
        history.accuracy.append(float(accuracy))
        history.time.append(time.perf_counter() - started)
        if on_progress is not None and (step % 10 == 0 or step == steps):
            elapsed = time.perf_counter() - started
            on_progress(
                Snapshot(
                    step=step,
                    total_steps=steps,
                    epoch=1,
                    epochs=1,
                    loss=float(loss),
                    accuracy=float(accuracy),
                    val_accuracy=None,
                    images_per_s=step * BATCH / max(elapsed, 1e-9),
                    elapsed=elapsed,
                    eta=elapsed / step * (steps - step),
                )
            )
    history.epoch_end_steps.append(len(history.step))
    return model, history


def _right(model, x: np.ndarray, y: np.ndarray) -> int:
    return int((probabilities(model, x).argmax(1) == y).sum()) if len(x) else 0


def _accuracy(model, x: np.ndarray, y: np.ndarray) -> float:
    return _right(model, x, y) / max(len(x), 1)
