"""What the Train page's job path costs in training speed, against a bare ``model.fit``.

    python benchmarks/job_overhead.py              # 3 rounds, ~5 minutes on 2 cores
    python benchmarks/job_overhead.py --rounds 5 --images 30000

Three ways to train the same model (fast default, same seed, same batch size, same
``tf.data`` pipeline from ``cnn.train``) for two epochs, in alternating rounds so that a
noisy neighbour hurts all of them alike:

- bare:      ``build_model`` + ``compile_model`` + ``model.fit(make_dataset(...))``, nothing else;
- job:       ``JobQueue.submit`` (progress snapshots, per-step history, stop checks,
             periodic validation), with a thread reading ``job.snapshot`` and copying
             ``job.history`` every 0.5 s as the live page does;
- job+plots: the same, the reader also building the page's two plotly figures and
             their JSON every 0.5 s (what ``st.plotly_chart`` costs the server).

Steady state only: the second epoch (the first pays for tracing and warm-up). For the
job paths, the periodic validations inside that epoch are left out, as in
``TrainResult.images_per_s`` (they score held-out images; they are not training). Prints
each round, the medians and best rounds and their ratios to bare (target >= 0.95).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cnn import plots  # noqa: E402
from cnn.config import PRESETS, TrainConfig  # noqa: E402
from cnn.data import load_mnist  # noqa: E402
from cnn.jobs import JobQueue  # noqa: E402
from cnn.model import build_model, describe  # noqa: E402
from cnn.runtime import keras  # noqa: E402
from cnn.train import History, compile_model, make_dataset, split  # noqa: E402

POLL = 0.5  # seconds, as the page's live fragment


def bare(config: TrainConfig) -> float:
    """Images/s of the second epoch of a bare fit."""
    x, y, _, _ = split(config, load_mnist())
    model = build_model(config)
    compile_model(model, config)
    times: list[float] = []
    clock = keras().callbacks.LambdaCallback(on_epoch_begin=lambda e, logs=None: times.append(time.perf_counter()),
                                             on_epoch_end=lambda e, logs=None: times.append(time.perf_counter()))
    model.fit(make_dataset(config, x, y), epochs=2, verbose=0, shuffle=False, callbacks=[clock])
    return config.fit_images / (times[3] - times[2])


def second_epoch_speed(config: TrainConfig, h: History) -> float:
    """Images/s of the second epoch from the job's own history, its validations left out."""
    first_end, second_end = h.epoch_end_steps[0], h.epoch_end_steps[1]
    seconds = h.time[second_end - 1] - h.time[first_end - 1]
    for step, done in zip(h.val_step, h.val_time):
        if first_end <= step < second_end:  # this validation ran inside the interval
            seconds -= done - h.time[step - 1]
    return config.fit_images / seconds


def job(config: TrainConfig, runs: Path, with_plots: bool) -> float:
    queue = JobQueue(runs_root=runs)
    j = queue.submit("benchmark", config, "job overhead")
    reads = 0

    def watch() -> None:  # the live page: a snapshot, a copy of the curves, twice a second
        nonlocal reads
        while not j.ended:
            _ = j.snapshot
            h = History.from_dict(j.history.to_dict())
            if with_plots and h.step:
                plots.training_curves(h, "loss").to_json()
                plots.training_curves(h, "accuracy").to_json()
            reads += 1
            time.sleep(POLL)

    watcher = threading.Thread(target=watch)
    watcher.start()
    watcher.join()
    queue.shutdown()
    if j.error or j.state != "finished":
        raise SystemExit(f"the job ended {j.state}: {j.error}")
    assert reads > 2, "the watcher never ran"
    return second_epoch_speed(config, j.history)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--images", type=int, default=20000, help="training images per epoch")
    args = parser.parse_args()

    # validation_split chosen so that exactly --images are trained on each epoch.
    config = PRESETS["fast default"].replace(epochs=2, train_size=args.images + 2000,
                                             validation_split=2000 / (args.images + 2000))
    print(f"fast default: {describe(config)}; 2 epochs of {config.fit_images:,} images, batch {config.batch_size}; "
          f"speed of epoch 2", flush=True)
    load_mnist()
    speeds: dict[str, list[float]] = {"bare": [], "job": [], "job+plots": []}
    with tempfile.TemporaryDirectory() as tmp:
        bare(config.replace(train_size=3000, validation_split=0.1))  # import and warm up TensorFlow once
        for r in range(1, args.rounds + 1):
            speeds["bare"].append(bare(config))
            speeds["job"].append(job(config, Path(tmp), with_plots=False))
            speeds["job+plots"].append(job(config, Path(tmp), with_plots=True))
            print(f"round {r}: " + ", ".join(f"{k} {v[-1]:,.0f}" for k, v in speeds.items()) + " images/s", flush=True)

    # The median is the headline; the best round is the least disturbed by neighbours.
    base, best_base = statistics.median(speeds["bare"]), max(speeds["bare"])
    print("\nimages/s of the second epoch:   median (ratio to bare)   best round (ratio to bare)")
    for name, values in speeds.items():
        m, b = statistics.median(values), max(values)
        print(f"  {name:10s} {m:8,.0f} ({m / base:5.3f})   {b:8,.0f} ({b / best_base:5.3f})")
    print("target: job / bare >= 0.95")


if __name__ == "__main__":
    main()
