"""What the Train page's job path costs in training speed, against a bare ``model.fit``.

    python benchmarks/job_overhead.py                 # ~2.5 minutes on 2 cores
    python benchmarks/job_overhead.py --epochs 12 --images 20000

Two trainers train the same model (fast default, same seed, same batch size, same
``tf.data`` pipeline from ``cnn.train``) in one process:

- bare:      ``build_model`` + ``compile_model`` + ``model.fit(make_dataset(...))``;
- job:       ``JobQueue.submit``, so ``cnn.train.train`` with its recorder (per-step history,
             progress snapshots, stop checks, periodic validation), and a reader thread that
             takes ``job.snapshot`` every 0.5 s, as the live page does.

What the page's live charts cost is measured where the page runs, through the real server
(``benchmarks/classroom_load.py``); benchmarks import no UI code.

Why they take turns. This machine's two vCPUs share their host: for spells of about ten
seconds any training runs at half speed (seen with a bare fit, with ``train_on_batch`` and no
``tf.data``, with oneDNN off), so runs measured one after another differ by up to 2x and
cannot settle a 5% question. Here the two take turns a step at a time, each pair of steps
in a fresh random order, so each pair runs within ~0.1 s under the same conditions, and the
comparison is made round by round.

What counts. A trainer's step runs from the moment it gets its turn to the end of its
``on_train_batch_end``: the step itself, keras' loop and, for the jobs, the recorder's work.
A reader polls once per 0.5 s of its job's training, only while its job holds the turn, and
the job does not hand the turn on until that poll is done: the reader's work lands on its
own job, in full (conservative: on the page it would run on the other core in part). Left out, for both alike: the first
epoch (tracing, warm-up) and each epoch's first step (a new ``tf.data`` iterator); for the
jobs, the time inside validations (they score held-out images, they are not training; their
cost is printed separately), as in ``TrainResult.images_per_s`` and the page's readout.

Prints images/s per path (total images / total time over the counted steps), the ratios to
bare with a 90% bootstrap interval (blocks of 25 rounds), and the job path's own costs.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from cnn import train
from cnn.config import PRESETS, TrainConfig
from cnn.data import load_mnist
from cnn.jobs import JobQueue
from cnn.model import build_model, describe
from cnn.runtime import keras
from cnn.train import compile_model, make_dataset, split

POLL = 0.5  # seconds between reads, as the page's live fragment
PATHS = ("bare", "job")
BLOCK = 25  # rounds per bootstrap block: neighbouring steps share the machine's mood


class Turns:
    """Trainers take turns in a fixed ring, one step each; a finished trainer drops out."""

    def __init__(self, names: tuple[str, ...], total_steps: int, steps_per_epoch: int):
        self.names, self.total_steps, self.steps_per_epoch = names, total_steps, steps_per_epoch
        self.cond = threading.Condition()
        self.holder: str | None = None  # nobody until the first trainer is ready
        self.order, self.at, self.shuffle = list(names), -1, random.Random(0)
        self.finished: set[str] = set()
        self.steps = {n: 0 for n in names}
        self.started: dict[str, float] = {}
        self.seconds = {n: np.full(total_steps, np.nan) for n in names}  # step -> its duration
        self.excluded = {n: 0.0 for n in names}  # validation time inside the current step
        self.reader_busy = {n: threading.Lock() for n in names}

    def _pass_turn(self) -> str | None:
        """The next trainer in this round's order; each new round gets a fresh random order, so
        that no trainer always follows the same one (whatever a step leaves behind, such as
        its pipeline preparing the next batch, lands on every trainer alike)."""
        if len(self.finished) == len(self.names):
            return None
        while True:
            self.at += 1
            if self.at == len(self.order):
                self.shuffle.shuffle(self.order)
                self.at = 0
            if self.order[self.at] not in self.finished:
                return self.order[self.at]

    def wait_for(self, name: str) -> None:
        with self.cond:
            self.cond.wait_for(lambda: self.holder == name or name in self.finished)

    def step_done(self, name: str) -> None:
        """Called at the end of each of ``name``'s steps: time it, pass the turn on, wait for the next."""
        with self.reader_busy[name]:  # a poll that began in this turn belongs to this step
            end = time.perf_counter()
        step = self.steps[name]
        if name in self.started:
            self.seconds[name][step] = end - self.started[name] - self.excluded[name]
        self.excluded[name] = 0.0
        self.steps[name] = step + 1
        if self.steps[name] == self.total_steps:
            self.finish(name)
            return
        with self.cond:
            # Only the holder passes the turn on. At the start, trainers still on their first
            # (tracing) step do not hold it: they finish that step, then wait for their turn.
            if self.holder in (name, None):
                self.holder = self._pass_turn()
                self.cond.notify_all()
            self.cond.wait_for(lambda: self.holder == name)
        self.started[name] = time.perf_counter()

    def finish(self, name: str) -> None:
        """``name`` trains no more (done, or its job ended early): the others go on without it."""
        with self.cond:
            self.finished.add(name)
            if self.holder in (name, None):
                self.holder = self._pass_turn()
            self.cond.notify_all()

    def counted(self) -> np.ndarray:
        """Steps counted for every trainer: after the first epoch, not an epoch's first step."""
        steps = np.arange(self.total_steps)
        keep = (steps >= self.steps_per_epoch) & (steps % self.steps_per_epoch != 0)
        for name in self.names:
            keep &= ~np.isnan(self.seconds[name])
        return np.flatnonzero(keep)


class Costs:
    """The job path's own work, timed where it happens."""

    def __init__(self) -> None:
        self.recorder_seconds = self.validation_seconds = 0.0
        self.steps = self.validations = 0


def instrument_recorder(turns: Turns, costs: Costs, job_names: dict[int, str]) -> None:
    """Make each job's recorder take turns, and time its work (minus validations) and its validations."""
    step, validate = train._Recorder.on_train_batch_end, train._Recorder.validate

    def on_train_batch_end(recorder, batch, logs=None):
        name = job_names[id(recorder.stop)]
        started, validating = time.perf_counter(), costs.validation_seconds
        step(recorder, batch, logs)
        costs.recorder_seconds += time.perf_counter() - started - (costs.validation_seconds - validating)
        costs.steps += 1
        turns.excluded[name] += costs.validation_seconds - validating
        turns.step_done(name)

    def timed_validate(recorder):
        started = time.perf_counter()
        validate(recorder)
        costs.validation_seconds += time.perf_counter() - started
        costs.validations += 1

    train._Recorder.on_train_batch_end, train._Recorder.validate = on_train_batch_end, timed_validate


def read_live(queue: JobQueue, j, name: str, turns: Turns) -> None:
    """The live page for one job: the progress snapshot every 0.5 s of training."""
    polls = 0
    while not j.ended:
        turns.wait_for(name)
        with turns.reader_busy[name]:
            queue.touch(j.owner)  # someone is watching: the job is not abandoned
            _ = j.snapshot
        polls += 1
        # Its job trains one step in two, so a poll every 0.5 s of *its* training, as on the
        # page, is one every 1 s of the clock; a 0.5 s clock would double the reader's load.
        time.sleep(POLL * len(turns.names))
    turns.finish(name)  # in case it ended early (it failed or was stopped): nobody waits for it
    assert polls > 2, f"the {name} reader never ran"


def bare(config: TrainConfig, turns: Turns) -> None:
    x, y, _, _ = split(config, load_mnist())
    model = build_model(config)
    compile_model(model, config)
    take_turns = keras().callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs=None: turns.step_done("bare"))
    model.fit(make_dataset(config, x, y), epochs=config.epochs, verbose=0, shuffle=False, callbacks=[take_turns])


def ratio_interval(seconds: dict[str, np.ndarray], path: str, draws: int = 2000) -> tuple[float, float]:
    """90% bootstrap interval of bare time / path time, resampling blocks of neighbouring rounds."""
    rng = np.random.default_rng(0)
    blocks = [slice(i, i + BLOCK) for i in range(0, len(seconds["bare"]), BLOCK)]
    sums = np.array([[seconds["bare"][b].sum(), seconds[path][b].sum()] for b in blocks])
    picked = sums[rng.integers(0, len(blocks), (draws, len(blocks)))].sum(axis=1)
    low, high = np.percentile(picked[:, 0] / picked[:, 1], [5, 95])
    return float(low), float(high)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8, help="epochs a trainer; the first is not counted")
    parser.add_argument("--images", type=int, default=12000, help="training images an epoch")
    args = parser.parse_args()

    # validation_split chosen so that exactly --images are trained on each epoch.
    config = PRESETS["fast default"].replace(
        epochs=args.epochs, train_size=args.images + 1000, validation_split=1000 / (args.images + 1000)
    )
    print(
        f"fast default: {describe(config)}\n{args.epochs} epochs of {config.fit_images:,} images, "
        f"batch {config.batch_size}, two trainers taking turns a step at a time",
        flush=True,
    )
    load_mnist()
    with tempfile.TemporaryDirectory() as tmp:
        warm_up = Turns(
            ("bare",), total_steps=config.replace(epochs=1, train_size=3000).steps_per_epoch, steps_per_epoch=1
        )
        bare(config.replace(epochs=1, train_size=3000), warm_up)  # import and warm up TensorFlow once

        turns = Turns(PATHS, config.epochs * config.steps_per_epoch, config.steps_per_epoch)
        costs = Costs()
        queue = JobQueue(workers=2, runs_root=Path(tmp))
        jobs = {name: queue.submit("benchmark", config, name) for name in PATHS[1:]}
        instrument_recorder(turns, costs, {id(j.stop_event): name for name, j in jobs.items()})
        readers = [threading.Thread(target=read_live, args=(queue, j, name, turns)) for name, j in jobs.items()]
        for reader in readers:
            reader.start()
        started = time.perf_counter()
        bare(config, turns)
        turns.finish("bare")  # (it has; this is for a bare fit that ended early)
        for reader in readers:
            reader.join()
        queue.shutdown()
        wall = time.perf_counter() - started
    for name, j in jobs.items():
        if j.error or j.state != "finished":
            raise SystemExit(f"{name} ended {j.state}: {j.error}")

    counted = turns.counted()
    seconds = {path: turns.seconds[path][counted] for path in PATHS}
    base = config.batch_size * len(counted) / seconds["bare"].sum()
    print(f"\n{len(counted)} rounds of steps counted ({wall:.0f} s in all)")
    print("  path        images/s   ratio to bare (90% interval)   median of round ratios")
    for path in PATHS:
        speed = config.batch_size * len(counted) / seconds[path].sum()
        low, high = ratio_interval(seconds, path) if path != "bare" else (1.0, 1.0)
        round = float(np.median(seconds["bare"] / seconds[path]))
        print(f"  {path:10s} {speed:9,.0f}   {speed / base:.3f} ({low:.3f}-{high:.3f})            {round:.3f}")
    step_seconds = config.batch_size / base
    print("\nthe job path's own costs, timed where they happen:")
    print(
        f"  recorder, a step: {costs.recorder_seconds / max(costs.steps, 1) * 1e6:,.0f} µs "
        f"({costs.recorder_seconds / max(costs.steps, 1) / step_seconds:.2%} of a {step_seconds * 1e3:.1f} ms step)"
    )
    print(
        f"  validation (left out above): {costs.validation_seconds / max(costs.validations, 1) * 1e3:.0f} ms "
        f"for {config.validation_images:,} held-out images, {train.VALIDATIONS_PER_RUN} a run"
    )
    print("target: job / bare >= 0.95")


if __name__ == "__main__":
    main()
