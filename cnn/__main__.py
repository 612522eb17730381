"""Command line: ``python -m cnn train | runs | evaluate | predict | rename | delete | class-model | worker``.

The same functions the pages call, for people who prefer a terminal (and for scripts).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from dataclasses import fields

from cnn import store
from cnn.config import DEFAULT_PRESET, PRESETS, TrainConfig
from cnn.errors import CnnError

NO_RUNS = "No saved run yet: train one with `python -m cnn train` (about a minute), or use the app's Train page."


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return args.command(args)
    except CnnError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


# --- train ------------------------------------------------------------------------------
def cmd_train(args: argparse.Namespace) -> int:
    from cnn.model import describe
    from cnn.train import train

    changes = {f.name: getattr(args, f.name) for f in fields(TrainConfig) if getattr(args, f.name) is not None}
    config = PRESETS[args.preset].replace(**changes)
    print(f"Training {args.preset}{' (changed: ' + ', '.join(changes) + ')' if changes else ''}: {describe(config)}")
    stop = threading.Event()

    def on_sigint(signum, frame):
        if stop.is_set():
            raise KeyboardInterrupt  # a second Ctrl-C aborts without saving
        stop.set()
        print("\nStopping after this step; the model so far will be evaluated and saved (Ctrl-C again to abort).")

    previous = signal.signal(signal.SIGINT, on_sigint)
    bar = _ProgressBar()
    try:
        result = train(config, on_progress=bar.update, stop=stop)
    finally:
        signal.signal(signal.SIGINT, previous)
        bar.close()
    if result.steps == 0:
        print("Stopped before the first step: nothing was learned, nothing saved.")
        return 1
    run = store.save_run(result, args.name)
    how = "stopped early" if result.stopped else "finished"
    print(
        f"Run {run.id} ({run.name}) {how} after {result.steps} steps in {result.train_seconds:.1f} s "
        f"({result.images_per_s:,.0f} images/s)."
    )
    print(f"Test accuracy {result.test.accuracy:.2%}, loss {result.test.loss:.4f}.")
    return 0


class _ProgressBar:
    """One updating line on a terminal; a line every few seconds otherwise (logs, CI)."""

    def __init__(self) -> None:
        self.tty = sys.stdout.isatty()
        self.last_line = 0.0

    def update(self, s) -> None:
        val = f" val {s.val_accuracy:.1%}" if s.val_accuracy is not None else ""
        width = 24
        done = int(width * s.fraction)
        line = (
            f"[{'#' * done}{'.' * (width - done)}] {s.fraction:4.0%} epoch {s.epoch}/{s.epochs} "
            f"step {s.step}/{s.total_steps} loss {s.loss:.3f} acc {s.accuracy:.1%}{val} "
            f"{s.images_per_s:,.0f} img/s ETA {_clock(s.eta)}"
        )
        if self.tty:
            print("\r" + line.ljust(110), end="", flush=True)
        elif time.monotonic() - self.last_line > 5 or s.step == s.total_steps:
            self.last_line = time.monotonic()
            print(line, flush=True)

    def close(self) -> None:
        if self.tty:
            print()


def _clock(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    return f"{m}:{s:02d}"


# --- runs, evaluate, rename, delete, class-model ------------------------------------------
def cmd_runs(args: argparse.Namespace) -> int:
    runs = store.list_runs()
    if not runs:
        print(NO_RUNS)
        return 0
    chosen = store.class_model()
    print(f"{'run id':36} {'test acc':>8} {'status':8} {'created':16} name")
    for r in runs:
        if r.damaged:
            print(f"{r.id:36} {'-':>8} {'damaged':8} {r.created[:16]:16} {r.name}  ({r.damaged})")
        else:
            mark = "  [class model]" if r.id == chosen else ""
            print(
                f"{r.id:36} {r.test_accuracy:>8.2%} {r.status:8} {r.created[:16].replace('T', ' '):16} {r.name}{mark}"
            )
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from cnn.train import evaluate

    run = store.get_run(args.run)
    metrics = evaluate(store.load_model(run))
    print(
        f"Run {run.id} ({run.name}): test accuracy {metrics.accuracy:.2%}, loss {metrics.loss:.4f}, "
        f"{len(metrics.misclassified)} of 10,000 test digits misclassified."
    )
    print("Per digit: " + "  ".join(f"{d}: {a:.1%}" for d, a in enumerate(metrics.per_class_accuracy)))
    return 0


def cmd_rename(args: argparse.Namespace) -> int:
    run = store.rename_run(args.run, args.name)
    print(f"Run {run.id} is now called {run.name!r}.")
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    store.delete_run(args.run)
    print(f"Deleted run {args.run}.")
    return 0


def cmd_class_model(args: argparse.Namespace) -> int:
    store.set_class_model(None if args.run == "none" else args.run)
    print(
        "No class model: the Draw page picks the most accurate run."
        if args.run == "none"
        else f"Run {args.run} is now the class model: the Draw page picks it for everyone."
    )
    return 0


# --- predict ------------------------------------------------------------------------------
def cmd_predict(args: argparse.Namespace) -> int:
    from cnn.imagefile import load_image
    from cnn.predict import classifier_for

    run = store.get_run(args.run) if args.run else store.best_run()
    if run is None:
        raise CnnError(NO_RUNS)
    classifier = classifier_for(run)
    failed = 0
    for path in args.files:
        try:
            prediction = classifier.classify(load_image(path))
            if prediction is None:
                raise CnnError("no digit found: the image is blank")
        except CnnError as exc:
            failed += 1
            if args.json:
                print(json.dumps({"file": path, "digit": None, "probabilities": None, "error": str(exc)}))
            else:
                print(f"{path}: error: {exc}")
            continue
        probabilities = [round(float(p), 6) for p in prediction.probabilities]
        if args.json:
            print(json.dumps({"file": path, "digit": prediction.digit, "probabilities": probabilities}))
        else:
            print(
                f"{path}: {prediction.digit} ({prediction.confidence:.1%})  "
                + " ".join(f"{d}:{p:.3f}" for d, p in enumerate(probabilities))
            )
    return 1 if failed else 0


# --- worker -------------------------------------------------------------------------------
def cmd_worker(args: argparse.Namespace) -> int:
    from pathlib import Path

    from cnn.jobs import default_db, run_worker

    return run_worker(Path(args.db) if args.db else default_db(), args.slots, args.idle_exit)


# --- the parser ---------------------------------------------------------------------------
def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m cnn", description="Train and use CNNs on MNIST.")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    p = sub.add_parser("train", help="train a model (Ctrl-C stops it and still saves it)")
    p.add_argument("--preset", choices=list(PRESETS), default=DEFAULT_PRESET, help="start from this preset")
    p.add_argument("--name", help="a name for the saved run")
    for f in fields(TrainConfig):
        meta, flag = f.metadata, "--" + f.name.replace("_", "-")
        allowed = f"one of {', '.join(meta['choices'])}" if meta["choices"] else f"{meta['low']}..{meta['high']}"
        if isinstance(f.default, bool):
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=meta["help"])
        else:
            p.add_argument(
                flag, type=type(f.default), default=None, metavar=f.name.upper(), help=f"{meta['help']} ({allowed})"
            )
    p.set_defaults(command=cmd_train)

    p = sub.add_parser("runs", help="list the saved runs")
    p.set_defaults(command=cmd_runs)

    p = sub.add_parser("evaluate", help="score a saved run on the 10k test digits")
    p.add_argument("run")
    p.set_defaults(command=cmd_evaluate)

    p = sub.add_parser("predict", help="classify image files (PNG, JPEG, ...) of one digit each")
    p.add_argument("--run", help="the run to use (default: the class model, else the most accurate run)")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.set_defaults(command=cmd_predict)

    p = sub.add_parser("rename", help="rename a saved run")
    p.add_argument("run")
    p.add_argument("name")
    p.set_defaults(command=cmd_rename)

    p = sub.add_parser("delete", help="delete a saved run")
    p.add_argument("run")
    p.set_defaults(command=cmd_delete)

    p = sub.add_parser("class-model", help="mark the run the Draw page uses for everyone ('none' to unmark)")
    p.add_argument("run")
    p.set_defaults(command=cmd_class_model)

    p = sub.add_parser("worker", help="train the app's queued jobs (the app starts one itself when needed)")
    p.add_argument("--db", help="the job database (default: jobs.db in the runs folder)")
    p.add_argument("--slots", type=int, default=1, help="trainers allowed at once on this database (CNN_MAX_JOBS)")
    p.add_argument("--idle-exit", type=float, default=300.0, help="leave after this many seconds without a job")
    p.set_defaults(command=cmd_worker)
    return parser


if __name__ == "__main__":
    sys.exit(main())
