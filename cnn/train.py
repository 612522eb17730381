"""A training run: fit with live progress, stop on request, evaluate on the test set.

``train(config, on_progress=..., stop=...)`` is the one way to train, for the CLI,
the background jobs of the Train page and the benchmarks alike:

- the data: a seeded subset of the 60k training images, a held-out validation share
  (never the test set), batches augmented on the fly (``cnn.augment``) so the model
  learns to read drawings, not only MNIST's neat digits;
- every step's loss and accuracy go into a ``History``; at most four ``Snapshot``s a
  second go to ``on_progress``; the validation share is scored at least ten times a run;
- ``stop.set()`` ends the run after the current step and keeps the model as it is;
- at the end, the 10k test images give accuracy, loss, a confusion matrix and the
  misclassified digits.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from cnn import runtime
from cnn.augment import NOT_A_DIGIT, to_float
from cnn.config import TrainConfig
from cnn.data import Mnist, load_mnist
from cnn.fonts import font_digits
from cnn.model import build_model, forward
from cnn.outliers import outlier_images
from cnn.records import History, Snapshot, TestMetrics
from cnn.store import RunInfo, load_model

if TYPE_CHECKING:
    import keras

SNAPSHOT_INTERVAL = 0.25  # seconds between progress reports
VALIDATIONS_PER_RUN = 10
EVAL_BATCH = 1000

# Whether XLA compiles the training step, by measurement on a 2-core CPU
# (benchmarks/train_speed.py): XLA made the batch-norm and pooling layouts 2-4x slower
# and the seed tutorial's two plain convolutions ~20% faster.
JIT_COMPILE = {"compact": False, "tutorial": True, "mnist_cnn": False}


@dataclass
class TrainResult:
    config: TrainConfig
    model: keras.Model
    history: History
    test: TestMetrics
    stopped: bool  # True when a stop request ended the run early
    steps: int
    train_seconds: float  # fitting, validation included
    eval_seconds: float
    images_per_s: float  # training throughput, validation excluded
    parameters: int


def split(config: TrainConfig, data: Mnist) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_fit, y_fit, x_val, y_val): a seeded subset of the training images and its held-out share."""
    order = np.random.default_rng(config.seed).permutation(len(data.x_train))[: config.train_size]
    val, fit = order[: config.validation_images], order[config.validation_images :]
    return data.x_train[fit], data.y_train[fit], data.x_train[val], data.y_train[val]


def make_dataset(config: TrainConfig, x: np.ndarray, y: np.ndarray):
    """Shuffled, batched, augmented training batches as a ``tf.data.Dataset``."""
    import tensorflow as tf

    runtime.keras()
    ds = tf.data.Dataset.from_tensor_slices((x, y.astype(np.int32)))
    ds = ds.shuffle(len(x), seed=config.seed, reshuffle_each_iteration=True).batch(config.batch_size)
    typed = outliers = None
    if config.augment and config.typed > 0:
        images, labels = font_digits()
        if len(labels):
            typed = (tf.constant(images.astype(np.float32)[..., None] / 255.0), tf.constant(labels.astype(np.int32)))
    if config.augment and config.outliers > 0:
        images = outlier_images()
        if len(images):
            outliers = (
                tf.constant(images.astype(np.float32)[..., None] / 255.0),
                tf.fill([len(images)], tf.constant(NOT_A_DIGIT, tf.int32)),
            )
    ds = ds.map(lambda xb, yb: to_float(xb, yb, config, typed, outliers), num_parallel_calls=1)
    # tf.data's autotuner stalled ~1.2 s at the end of most epochs here (measured with a bare
    # fit too), and tunes nothing a fixed two-batch prefetch does not already give.
    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.prefetch(2).with_options(options)


def compile_model(model: keras.Model, config: TrainConfig, restart: bool = False) -> None:
    """Compile for ``config``'s epochs. ``restart``: continuing a trained model, whose weights
    are already good: a warm restart to a third of the peak rate (a short warm-up, then the
    same anneal) instead of the first run's full climb, which would throw much of it away."""
    keras = runtime.keras()
    total = config.epochs * config.steps_per_epoch
    peak = config.learning_rate / 3 if restart else config.learning_rate
    lr: Any = peak
    if config.lr_schedule == "cosine" or (restart and config.lr_schedule == "onecycle"):
        warmup = max(1, total // 20) if restart else 0
        lr = keras.optimizers.schedules.CosineDecay(
            peak / 10 if warmup else peak,
            decay_steps=max(1, total - warmup),
            warmup_target=peak if warmup else None,
            warmup_steps=warmup,
        )
    elif config.lr_schedule == "onecycle":
        warmup = max(1, total // 5)
        lr = keras.optimizers.schedules.CosineDecay(
            config.learning_rate / 10,
            decay_steps=max(1, total - warmup),
            warmup_target=config.learning_rate,
            warmup_steps=warmup,
        )
    optimizer = {
        "adam": keras.optimizers.Adam,
        "adamw": keras.optimizers.AdamW,
        "rmsprop": keras.optimizers.RMSprop,
        "adadelta": keras.optimizers.Adadelta,
        "sgd": lambda learning_rate: keras.optimizers.SGD(learning_rate, momentum=0.9, nesterov=True),
    }[config.optimizer](learning_rate=lr)
    # Sparse labels: the same categorical cross-entropy as the tutorials, without one-hot copies;
    # non-digits (label NOT_A_DIGIT, see cnn.outliers) are pulled towards equal probabilities.
    model.compile(
        optimizer=optimizer,
        loss=digit_or_not_loss,
        metrics=[accuracy],
        jit_compile=JIT_COMPILE[config.architecture],
    )


OUTLIER_WEIGHT = 0.5  # the weight of the non-digits' loss (as in Hendrycks et al.'s Outlier Exposure)


def digit_or_not_loss(y_true, y_pred):
    """Cross-entropy for digits; for non-digits, cross-entropy to the uniform distribution
    (Outlier Exposure), weighted OUTLIER_WEIGHT."""
    import tensorflow as tf

    y = tf.reshape(tf.cast(y_true, tf.int32), [-1])
    log_p = tf.math.log(tf.clip_by_value(y_pred, 1e-7, 1.0))
    digit = y >= 0
    picked = tf.gather(log_p, tf.maximum(y, 0), axis=1, batch_dims=1)
    return tf.where(digit, -picked, -OUTLIER_WEIGHT * tf.reduce_mean(log_p, axis=1))


def accuracy(y_true, y_pred):
    """Per image: a digit read right, or a non-digit given no more than half the probability."""
    import tensorflow as tf

    y = tf.reshape(tf.cast(y_true, tf.int32), [-1])
    read = tf.cast(tf.argmax(y_pred, axis=1, output_type=tf.int32) == y, tf.float32)
    refused = tf.cast(tf.reduce_max(y_pred, axis=1) <= 0.5, tf.float32)
    return tf.where(y >= 0, read, refused)


def probabilities(model: keras.Model, x: np.ndarray) -> np.ndarray:
    """(n, 10) probabilities for uint8 images, in large batches, through the model's traced graph."""
    run = forward(model)
    out = [
        run(x[i : i + EVAL_BATCH].astype(np.float32)[..., None] / 255.0).numpy() for i in range(0, len(x), EVAL_BATCH)
    ]
    return np.concatenate(out) if out else np.zeros((0, 10), np.float32)


def _score(model: keras.Model, x: np.ndarray, y: np.ndarray) -> tuple[float, float, np.ndarray]:
    """(loss, accuracy, probabilities) of ``model`` on ``x``, ``y``."""
    p = probabilities(model, x)
    loss = float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y], 1e-7, 1.0))))
    return loss, float(np.mean(p.argmax(1) == y)), p


def evaluate(model: keras.Model, data: Mnist | None = None) -> TestMetrics:
    """Accuracy, loss, confusion matrix and misclassified digits on the 10k test images."""
    data = data or load_mnist()
    loss, accuracy, p = _score(model, data.x_test, data.y_test)
    predicted = p.argmax(1)
    confusion = np.zeros((10, 10), np.int64)
    np.add.at(confusion, (data.y_test, predicted), 1)
    wrong = np.flatnonzero(predicted != data.y_test)
    return TestMetrics(
        accuracy=accuracy,
        loss=loss,
        confusion=confusion.tolist(),
        misclassified=wrong.tolist(),
        predicted=predicted[wrong].tolist(),
        confidence=[float(c) for c in p[wrong, predicted[wrong]]],
    )


def train(
    config: TrainConfig,
    *,
    data: Mnist | None = None,
    on_progress: Callable[[Snapshot], None] | None = None,
    stop: threading.Event | None = None,
    history: History | None = None,
    start_from: RunInfo | None = None,
) -> TrainResult:
    """Train a model as ``config`` says; see the module docstring.

    ``history`` may be passed in so that another thread can read it while it grows
    (appends only; readers copy what they need).

    ``start_from``: train that saved run's model ``config.epochs`` more epochs (train more),
    its curves continuing where they ended; the result's config counts all the epochs.
    """
    data = data or load_mnist()
    history = history if history is not None else History()
    if start_from is None:
        model, before = build_model(config), None
        compile_model(model, config)
    else:
        more = config.epochs
        start_from.config.replace(epochs=start_from.config.epochs + more)  # the whole run must be valid too
        model, before = load_model(start_from), start_from
        config = start_from.config.replace(epochs=more)  # the same data and knobs, more epochs
        compile_model(model, config, restart=True)
        for name, values in start_from.history.to_dict().items():
            getattr(history, name).extend(values)
    x_fit, y_fit, x_val, y_val = split(config, data)
    recorder = _Recorder(model, config, x_val, y_val, history, on_progress, stop or threading.Event(), before)

    started = time.perf_counter()
    if not recorder.stop.is_set():  # a stop that came before the start trains nothing
        model.fit(
            make_dataset(config, x_fit, y_fit),
            epochs=config.epochs,
            verbose=0,
            shuffle=False,
            callbacks=[recorder.callback()],
        )
    train_seconds = time.perf_counter() - started
    if recorder.steps and (not recorder.history.val_step or recorder.history.val_step[-1] != recorder.at):
        recorder.validate()  # the last point of the curve is where the run ended

    started = time.perf_counter()
    test = evaluate(model, data)
    eval_seconds = time.perf_counter() - started
    fit_seconds = max(train_seconds - recorder.validation_seconds, 1e-9)
    if before is not None:  # the whole run, then the more
        config = config.replace(epochs=before.config.epochs + config.epochs)
    return TrainResult(
        config=config,
        model=model,
        history=recorder.history,
        test=test,
        stopped=recorder.steps < recorder.total_steps,
        steps=recorder.at,
        train_seconds=train_seconds + (before.train_seconds if before else 0.0),
        eval_seconds=eval_seconds,
        images_per_s=recorder.images / fit_seconds,
        parameters=model.count_params(),
    )


class _Recorder:
    """Records each step, validates now and then, reports progress, obeys stop."""

    def __init__(self, model, config, x_val, y_val, history, on_progress, stop, before=None):
        self.model, self.config, self.x_val, self.y_val = model, config, x_val, y_val
        self.history, self.on_progress, self.stop = history, on_progress, stop
        # Training more: this run's steps and seconds continue the earlier run's curves.
        self.step_offset = before.steps if before else 0
        self.time_offset = before.history.time[-1] if before and before.history.time else 0.0
        self.total_steps = config.epochs * config.steps_per_epoch
        every = max(1, self.total_steps // VALIDATIONS_PER_RUN)
        self.val_at = set(range(every, self.total_steps + 1, every))
        self.steps = self.images = self.validations = 0
        self.epoch = 1
        self.validation_seconds = 0.0
        self.started = self.last_report = 0.0
        self.running_loss = self.running_accuracy = 0.0

    @property
    def at(self) -> int:
        """Where the curves are: this run's steps after the earlier run's."""
        return self.step_offset + self.steps

    def callback(self):
        return runtime.keras().callbacks.LambdaCallback(
            on_train_begin=self.on_train_begin,
            on_epoch_begin=self.on_epoch_begin,
            on_train_batch_end=self.on_train_batch_end,
            on_epoch_end=self.on_epoch_end,
        )

    def on_train_begin(self, logs=None):
        self.started = time.perf_counter()

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch + 1
        self.running_loss = self.running_accuracy = 0.0

    def on_train_batch_end(self, batch, logs=None):
        # keras reports the running mean over the epoch so far; recover this step's own value.
        n = batch + 1
        mean_loss, mean_accuracy = float(logs["loss"]), float(logs["accuracy"])
        loss = mean_loss * n - self.running_loss * (n - 1)
        accuracy = mean_accuracy * n - self.running_accuracy * (n - 1)
        self.running_loss, self.running_accuracy = mean_loss, mean_accuracy
        self.steps += 1
        batch_images = min(self.config.batch_size, self.config.fit_images - batch * self.config.batch_size)
        self.images += batch_images
        h = self.history
        h.step.append(self.at), h.loss.append(loss), h.accuracy.append(min(max(accuracy, 0.0), 1.0))
        h.time.append(self.time_offset + time.perf_counter() - self.started)
        if self.steps in self.val_at:
            self.validate()
        if self.stop.is_set():
            self.model.stop_training = True
        now = time.perf_counter() - self.started
        if self.on_progress and (now - self.last_report >= SNAPSHOT_INTERVAL or self.steps == self.total_steps):
            self.last_report = now
            self.on_progress(self.snapshot(now))

    def on_epoch_end(self, epoch, logs=None):
        self.history.epoch_end_steps.append(self.at)

    def validate(self) -> None:
        started = time.perf_counter()
        loss, accuracy, _ = _score(self.model, self.x_val, self.y_val)
        self.validation_seconds += time.perf_counter() - started
        self.validations += 1
        h = self.history
        h.val_step.append(self.at), h.val_loss.append(loss), h.val_accuracy.append(accuracy)
        h.val_time.append(self.time_offset + time.perf_counter() - self.started)

    def snapshot(self, elapsed: float) -> Snapshot:
        h = self.history
        fit_seconds = max(elapsed - self.validation_seconds, 1e-9)
        per_step = fit_seconds / max(self.steps, 1)
        remaining = self.total_steps - self.steps
        validations_left = len([s for s in self.val_at if s > self.steps])
        per_validation = self.validation_seconds / max(self.validations, 1)
        return Snapshot(
            step=self.steps,
            total_steps=self.total_steps,
            epoch=self.epoch,
            epochs=self.config.epochs,
            loss=h.loss[-1],
            accuracy=h.accuracy[-1],
            val_accuracy=h.val_accuracy[-1] if h.val_accuracy else None,
            images_per_s=self.images / fit_seconds,
            elapsed=elapsed,
            eta=remaining * per_step + validations_left * per_validation,
        )
