"""Command line: ``python -m cnn train | runs | evaluate | predict [--number] | rename | delete |
class-model | label | drawings | finetune | card | worker`` (or ``cnn ...`` once installed).

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

import numpy as np

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
    earlier = store.get_run(args.more) if args.more else None
    if earlier is not None:
        if set(changes) - {"epochs"}:
            raise CnnError("Training more keeps the run's settings: only --epochs (how many more) may be given.")
        config = earlier.config.replace(epochs=changes.get("epochs", 1))
        print(f"Training {earlier.name!r} ({earlier.id}) {config.epochs} more epoch(s): {describe(config)}")
    else:
        config = PRESETS[args.preset].replace(**changes)
        print(
            f"Training {args.preset}{' (changed: ' + ', '.join(changes) + ')' if changes else ''}: {describe(config)}"
        )
    stop = threading.Event()

    def on_sigint(signum, frame):
        if stop.is_set():
            raise KeyboardInterrupt  # a second Ctrl-C aborts without saving
        stop.set()
        print("\nStopping after this step; the model so far will be evaluated and saved (Ctrl-C again to abort).")

    previous = signal.signal(signal.SIGINT, on_sigint)
    bar = _ProgressBar()
    try:
        result = train(config, on_progress=bar.update, stop=stop, start_from=earlier)
    finally:
        signal.signal(signal.SIGINT, previous)
        bar.close()
    if result.steps == 0:
        print("Stopped before the first step: nothing was learned, nothing saved.")
        return 1
    name = args.name or (f"{earlier.name}, +{config.epochs} epochs"[: store.MAX_NAME] if earlier else None)
    run = store.save_run(result, name, continued_from=earlier.id if earlier else "")
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
    if args.number:
        return _predict_numbers(classifier, args)
    failed = 0
    for path in args.files:
        try:
            prediction = classifier.classify(load_image(path))
            if prediction is None:
                raise CnnError("no digit found: the image is blank")
        except CnnError as exc:
            failed += 1
            _print_error(path, exc, args.json, digit=None, probabilities=None)
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


# --- label, drawings, finetune: teaching the model the class's handwriting ----------------------
def cmd_label(args: argparse.Namespace) -> int:
    from cnn import collection
    from cnn.imagefile import load_image

    *files, label = args.items
    if not files:
        raise CnnError("Give one or more image files and then the digit they show, e.g. `cnn label seven.png 7`.")
    digit = collection.check_label(label)
    failed = 0
    for path in files:
        try:
            drawing = collection.add_drawing(load_image(path), digit)
        except CnnError as exc:
            failed += 1
            print(f"{path}: error: {exc}")
        else:
            print(f"{path}: saved as a {digit} ({drawing.id})")
    return 1 if failed else 0


def cmd_drawings(args: argparse.Namespace) -> int:
    from cnn import collection

    if args.action == "export":
        if not args.out:
            raise CnnError("Say where to write it: `cnn drawings export OUT.npz`.")
        n = collection.export(args.out)
        print(f"Wrote {n} drawings to {args.out} (x: uint8 n x 28 x 28, y: uint8 labels, as MNIST).")
    elif args.action == "clear":
        print(f"Deleted {collection.clear()} drawings.")
    else:
        drawings = collection.list_drawings()
        counts = np.bincount([d.label for d in drawings], minlength=10) if drawings else np.zeros(10, int)
        wrong = sum(d.wrong for d in drawings)
        print(
            f"{len(drawings)} labelled drawings ({wrong} corrections); per digit: "
            + "  ".join(f"{d}: {n}" for d, n in enumerate(counts))
        )
        for name in collection.damaged():
            print(f"  damaged, skipped: {name}")
    return 0


def cmd_finetune(args: argparse.Namespace) -> int:
    from cnn import collection
    from cnn.finetune import finetune

    run = store.get_run(args.run) if args.run else store.best_run()
    if run is None:
        raise CnnError(NO_RUNS)
    drawings = collection.list_drawings()
    print(f"Teaching {run.name!r} ({run.id}) {len(drawings)} labelled drawings, with MNIST ...", flush=True)
    bar = _ProgressBar()
    try:
        result, report = finetune(run, drawings, on_progress=bar.update, seed=args.seed)
    finally:
        bar.close()
    taught = store.save_run(
        result,
        f"{run.name}, taught {report.drawings} drawings"[: store.MAX_NAME],
        taught={**report.to_dict(), "from": run.id},
    )
    print(f"Saved as run {taught.id} ({taught.name}); {run.id} is unchanged. {report.seconds:.1f} s of teaching.")
    print("\n".join(report.lines()))
    return 0


def cmd_card(args: argparse.Namespace) -> int:
    from cnn import card, collection, scores

    run = store.get_run(args.run)
    facts = card.card(run, scores.drawn_accuracy(run), scores.class_accuracy(run, collection.list_drawings()))
    print(json.dumps(facts, indent=2) if args.json else card.markdown(facts))
    return 0


def _predict_numbers(classifier, args: argparse.Namespace) -> int:
    """``predict --number``: each file is a whole number, split into digits and read."""
    from cnn.imagefile import load_image
    from cnn.number import read_number

    failed = 0
    for path in args.files:
        try:
            reading = read_number(classifier, load_image(path))
            if reading is None:
                raise CnnError("no digits found: the image is blank")
        except CnnError as exc:
            failed += 1
            _print_error(path, exc, args.json, number=None, digits=None)
            continue
        if args.json:
            digits = [
                {
                    "digit": d.prediction.digit,
                    "probabilities": [round(float(p), 6) for p in d.prediction.probabilities],
                    "box": dict(zip(("top", "left", "bottom", "right"), map(int, d.box))),
                    "unsure": d.prediction.unsure,
                }
                for d in reading.digits
            ]
            print(json.dumps({"file": path, "number": reading.number, "digits": digits}))
        else:
            each = ", ".join(
                f"{d.prediction.digit}{'?' if d.prediction.unsure else ''} {d.prediction.confidence:.0%}"
                for d in reading.digits
            )
            print(f"{path}: {reading.number}  ({each})")
    return 1 if failed else 0


# --- worker -------------------------------------------------------------------------------
def cmd_worker(args: argparse.Namespace) -> int:
    from pathlib import Path

    from cnn.jobs import default_db, run_worker

    return run_worker(Path(args.db) if args.db else default_db(), args.slots, args.idle_exit)


def _print_error(path: str, exc: CnnError, as_json: bool, **empty) -> None:
    """A file that could not be read: a line saying why (JSON with the answer's keys empty)."""
    print(json.dumps({"file": path, **empty, "error": str(exc)}) if as_json else f"{path}: error: {exc}")


# --- the parser ---------------------------------------------------------------------------
def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m cnn", description="Train and use CNNs on MNIST.")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    p = sub.add_parser("train", help="train a model (Ctrl-C stops it and still saves it)")
    p.add_argument("--preset", choices=list(PRESETS), default=DEFAULT_PRESET, help="start from this preset")
    p.add_argument("--name", help="a name for the saved run")
    p.add_argument("--more", metavar="RUN", help="train this saved run --epochs more (its curves continue)")
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

    p = sub.add_parser("predict", help="classify image files (PNG, JPEG, ...) of one digit (or number) each")
    p.add_argument("--run", help="the run to use (default: the class model, else the most accurate run)")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument(
        "--number",
        action="store_true",
        help="each file is a whole number: find its digits and read them (JSON: the number as a string, "
        "and each digit with its probabilities and box: top, left, bottom, right in pixels)",
    )
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

    p = sub.add_parser("card", help="a run's model card: data, settings, timings, accuracies, machine")
    p.add_argument("run")
    p.add_argument("--json", action="store_true", help="the facts as JSON")
    p.set_defaults(command=cmd_card)

    p = sub.add_parser("label", help="add image files to the class's labelled drawings: FILE... DIGIT")
    p.add_argument("items", nargs="+", metavar="FILE... DIGIT", help="one or more image files, then the digit")
    p.set_defaults(command=cmd_label)

    p = sub.add_parser("drawings", help="the class's labelled drawings: list, export OUT.npz, clear")
    p.add_argument("action", nargs="?", choices=("list", "export", "clear"), default="list")
    p.add_argument("out", nargs="?", help="for export: the .npz file to write (MNIST's layout)")
    p.set_defaults(command=cmd_drawings)

    p = sub.add_parser("finetune", help="teach a run the class's drawings; saves a new run, prints before/after")
    p.add_argument("--run", help="the run to teach (default: the class model, else the most accurate run)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(command=cmd_finetune)

    p = sub.add_parser("worker", help="train the app's queued jobs (the app starts one itself when needed)")
    p.add_argument("--db", help="the job database (default: jobs.db in the runs folder)")
    p.add_argument("--slots", type=int, default=1, help="trainers allowed at once on this database (CNN_MAX_JOBS)")
    p.add_argument("--idle-exit", type=float, default=300.0, help="leave after this many seconds without a job")
    p.set_defaults(command=cmd_worker)
    return parser


if __name__ == "__main__":
    sys.exit(main())
