"""What the Train page's job path costs in training speed, against a bare ``model.fit``.

    python benchmarks/job_overhead.py              # 8 rounds, ~7 minutes on 2 cores
    python benchmarks/job_overhead.py --rounds 12 --epochs 8

Three ways to train the same model (fast default, same seed, same batch size, same
``tf.data`` pipeline from ``cnn.train``), in rounds whose order rotates:

- bare:      ``build_model`` + ``compile_model`` + ``model.fit(make_dataset(...))``, nothing else;
- job:       ``JobQueue.submit`` (per-step history, progress snapshots, stop checks, periodic
             validation), with a thread reading ``job.snapshot`` and copying ``job.history``
             every 0.5 s, as the live page does;
- job+plots: the same, the reader also building the page's two plotly figures every 0.5 s
             and turning them into JSON as ``st.plotly_chart`` does (what the server pays).

Speed is the images/s of each epoch after the first (which pays for tracing), from the end
of one epoch to the end of the next. For the job paths the periodic validations inside an
epoch are taken out, as in ``TrainResult.images_per_s`` and the page's own readout: they
score held-out images, they are not training (their cost is printed separately).

Why so many epochs and rounds: this machine's two vCPUs share their host. Over spells of
about ten seconds an epoch runs at half speed whatever is training (seen with a bare fit,
with ``train_on_batch`` and no ``tf.data``, with oneDNN off). A handful of epochs can
therefore flip a ratio either way, so the headline is the ratio of the medians over all
steady epochs, with a 90% bootstrap interval over rounds; a single round proves nothing.

The job path's own costs are also timed directly, free of that noise: the recorder's work
per step on the training thread, and the reader thread's CPU time per poll.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import plotly.io
import plotly.tools

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cnn import plots, train  # noqa: E402
from cnn.config import PRESETS, TrainConfig  # noqa: E402
from cnn.data import load_mnist  # noqa: E402
from cnn.jobs import JobQueue  # noqa: E402
from cnn.model import build_model, describe  # noqa: E402
from cnn.runtime import keras  # noqa: E402
from cnn.train import History, compile_model, make_dataset, split  # noqa: E402

POLL = 0.5  # seconds, as the page's live fragment
PATHS = ("bare", "job", "job+plots")


def bare(config: TrainConfig) -> list[float]:
    """Images/s of each epoch after the first, for a bare fit."""
    x, y, _, _ = split(config, load_mnist())
    model = build_model(config)
    compile_model(model, config)
    ends: list[float] = []
    clock = keras().callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs=None: ends.append(time.perf_counter()))
    model.fit(make_dataset(config, x, y), epochs=config.epochs, verbose=0, shuffle=False, callbacks=[clock])
    return [config.fit_images / (b - a) for a, b in zip(ends, ends[1:])]


def as_sent(figure) -> str:
    """What ``st.plotly_chart`` does with a figure before it goes to the browser."""
    return plotly.io.to_json(plotly.tools.return_figure_from_figure_or_data(figure, validate_figure=True),
                             validate=False)


def epoch_speeds(config: TrainConfig, h: History) -> list[float]:
    """Images/s of each epoch after the first, from a job's own history, validations taken out."""
    ends = [h.time[step - 1] for step in h.epoch_end_steps]
    speeds = []
    for first, last, start, end in zip(h.epoch_end_steps, h.epoch_end_steps[1:], ends, ends[1:]):
        seconds = end - start
        for step, done in zip(h.val_step, h.val_time):
            if first <= step < last:  # ran after step `step` was timed, so inside this interval
                seconds -= done - h.time[step - 1]
        speeds.append(config.fit_images / seconds)
    return speeds


class Costs:
    """The job path's own work, timed where it happens (a timer adds ~1 µs a step)."""

    def __init__(self) -> None:
        self.recorder_seconds = self.validation_seconds = self.reader_cpu = 0.0  # validations left out of the first
        self.steps = self.validations = self.polls = 0

    def time_the_recorder(self) -> None:
        step, validate = train._Recorder.on_train_batch_end, train._Recorder.validate

        def timed_step(recorder, batch, logs=None):
            started, validating = time.perf_counter(), self.validation_seconds
            step(recorder, batch, logs)
            self.recorder_seconds += time.perf_counter() - started - (self.validation_seconds - validating)
            self.steps += 1

        def timed_validate(recorder):
            started = time.perf_counter()
            validate(recorder)
            self.validation_seconds += time.perf_counter() - started
            self.validations += 1

        train._Recorder.on_train_batch_end, train._Recorder.validate = timed_step, timed_validate

    @property
    def per_step(self) -> float:
        return self.recorder_seconds / max(self.steps, 1)


def job(config: TrainConfig, runs: Path, with_plots: bool, costs: Costs) -> list[float]:
    queue = JobQueue(runs_root=runs)
    j = queue.submit("benchmark", config, "job overhead")
    polls = 0

    def watch() -> None:  # the live page: a snapshot, a copy of the curves, twice a second
        nonlocal polls
        while not j.ended:
            started = time.thread_time()
            _ = j.snapshot
            h = History.from_dict(j.history.to_dict())
            if with_plots and h.step:
                for metric in ("loss", "accuracy"):
                    as_sent(plots.training_curves(h, metric))
                costs.reader_cpu += time.thread_time() - started
                costs.polls += 1
            polls += 1
            time.sleep(POLL)

    watcher = threading.Thread(target=watch)
    watcher.start()
    watcher.join()
    queue.shutdown()
    if j.error or j.state != "finished":
        raise SystemExit(f"the job ended {j.state}: {j.error}")
    assert polls > 2, "the watcher never ran"
    return epoch_speeds(config, j.history)


def ratio_interval(speeds: dict[str, list[list[float]]], path: str, draws: int = 2000) -> tuple[float, float]:
    """90% bootstrap interval of median(path) / median(bare), resampling whole rounds."""
    rng = np.random.default_rng(0)
    rounds = len(speeds["bare"])
    ratios = []
    for _ in range(draws):
        picked = rng.integers(0, rounds, rounds)
        ratios.append(np.median(np.concatenate([speeds[path][i] for i in picked]))
                      / np.median(np.concatenate([speeds["bare"][i] for i in picked])))
    low, high = np.percentile(ratios, [5, 95])
    return float(low), float(high)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=6, help="epochs a run; the first is not counted")
    parser.add_argument("--images", type=int, default=6000, help="training images an epoch")
    args = parser.parse_args()

    # validation_split chosen so that exactly --images are trained on each epoch.
    config = PRESETS["fast default"].replace(epochs=args.epochs, train_size=args.images + 1000,
                                             validation_split=1000 / (args.images + 1000))
    print(f"fast default: {describe(config)}\n{args.rounds} rounds of {args.epochs} epochs of "
          f"{config.fit_images:,} images, batch {config.batch_size}; epochs 2-{args.epochs} counted", flush=True)
    load_mnist()
    costs = Costs()
    costs.time_the_recorder()
    speeds: dict[str, list[list[float]]] = {path: [] for path in PATHS}
    with tempfile.TemporaryDirectory() as tmp:
        bare(config.replace(epochs=1, train_size=3000, validation_split=0.1))  # import and warm up TensorFlow once
        as_sent(plots.training_curves(History(step=[1], loss=[1.0], accuracy=[0.5])))  # and plotly
        for r in range(args.rounds):
            for path in PATHS[r % 3:] + PATHS[: r % 3]:  # rotate who goes first
                run = bare(config) if path == "bare" else job(config, Path(tmp), path == "job+plots", costs)
                speeds[path].append(run)
            print(f"round {r + 1}: " + ", ".join(
                f"{path} {' '.join(f'{s:,.0f}' for s in speeds[path][-1])}" for path in PATHS), flush=True)

    pooled = {path: np.concatenate(runs) for path, runs in speeds.items()}
    base = float(np.median(pooled["bare"]))
    print(f"\nimages/s over {len(pooled['bare'])} steady epochs a path: median (ratio to bare, 90% interval), "
          "mean, median of per-round ratios")
    for path in PATHS:
        median = float(np.median(pooled[path]))
        low, high = ratio_interval(speeds, path) if path != "bare" else (1.0, 1.0)
        paired = statistics.median(float(np.median(a)) / float(np.median(b)) for a, b in zip(speeds[path], speeds["bare"]))
        print(f"  {path:10s} {median:7,.0f} ({median / base:.3f}, {low:.3f}-{high:.3f})   "
              f"mean {np.mean(pooled[path]):7,.0f}   paired {paired:.3f}")
    step_seconds = config.batch_size / base
    print("\nmeasured directly, free of the machine's noise:")
    print(f"  the recorder's work a step: {costs.per_step * 1e6:,.0f} µs against a {step_seconds * 1e3:.1f} ms step "
          f"({costs.per_step / step_seconds:.2%})")
    print(f"  the reader with plots: {costs.reader_cpu / max(costs.polls, 1) * 1e3:.1f} ms CPU a poll, "
          f"{costs.reader_cpu / max(costs.polls, 1) / POLL:.1%} of one core")
    print(f"  validation (not counted above): {costs.validation_seconds / max(costs.validations, 1) * 1e3:.0f} ms "
          f"for 1,000 held-out images, {train.VALIDATIONS_PER_RUN} a run")
    print("target: job / bare >= 0.95")


if __name__ == "__main__":
    main()
