"""How well a model reads drawings it has never seen the like of: the honest yardstick.

    python benchmarks/drawn_accuracy.py [--run RUN_ID ...] [--runs-dir DIR] [--train-seeds 0 1 2]
                                        [--restroke 500] [--soften SIGMA] [--tta]

The digits: ``data/drawn-digits.npz`` (``cnn.handwriting``), 2,560 digits drawn from
stroke templates by eight "sources" (neat, quick, mouse, hairline, pencil and marker
hands, blocky low-resolution scans, typed-looking digits) in four file styles (transparent RGBA canvas,
white on black, dark on white, photographed paper), none of them derived from MNIST's
images. Each is classified the way the Draw page does it (``Classifier.classify``:
prepare the MNIST way, then the model); a drawing ``prepare`` finds no digit in counts
as wrong. Printed: accuracy overall, per source, per style, source x style, per digit,
per template form, by digit height and pen width, and the hardest source.

The non-digits: ``data/non-digits.npz`` (dots, blocks, stripes, scribbles, letters,
smileys, shapes, empty and full pictures). Printed: the share refused (``prepare`` finds
no digit, or ``Prediction.refused`` says why it is none; the higher, the better), and the
share read as a digit with >= 60% confidence (the Draw page's "sure" answer).

A refused digit counts as wrong. Also printed: the share of digits refused, the accuracy
of the answers given, and the expected calibration error (ECE, 15 bins) of the calibrated
probabilities on every prepared digit.

Secondary: accuracy on ``--restroke N`` MNIST test digits re-stroked (``cnn.drawings``,
the old yardstick; 0 skips it).

Models: each ``--run`` (a saved run id, from ``--runs-dir`` or the app's runs folder),
or the fast default trained here with each ``--train-seeds`` seed (not saved); with
neither, the fast default with seed 0. Several models give a column each plus the mean
and spread (max - min).

Probes (change nothing in the app): ``--soften S`` blurs the prepared 28x28 with a
Gaussian of sigma S pixels before the model sees it; ``--tta`` averages the model's
probabilities over the prepared image and four one-pixel shifts of it.
"""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from cnn import store
from cnn.handwriting import DrawnSet, load_drawn_set, load_non_digits
from cnn.predict import UNSURE_BELOW, Classifier, classifier_for, expected_calibration_error, refusal
from cnn.preprocess import prepare

HEIGHT_BANDS = [0, 35, 70, 105, 141]  # digit height, px on the 140 canvas
PEN_BANDS = [0, 3, 6, 12, 200]  # pen width, px on the 140 canvas
SWEEP = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)  # refusal thresholds to show the trade-off at


def soften(image28: np.ndarray, sigma: float) -> np.ndarray:
    """A Gaussian blur of a prepared 28x28 (edges zero-padded), peak kept at the original's."""
    if sigma <= 0:
        return image28
    r = max(1, int(math.ceil(3 * sigma)))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()
    p = np.pad(image28, r)
    p = sum(k[i] * p[i : i + 28] for i in range(2 * r + 1))
    p = sum(k[i] * p[:, i : i + 28] for i in range(2 * r + 1))
    top = float(p.max())
    return (p * (float(image28.max()) / top) if top > 0 else p).astype(np.float32)


def _shifts(x: np.ndarray) -> np.ndarray:
    out = [x]
    for dy, dx in ((1, 0), (-1, 0), (0, 1), (0, -1)):
        out.append(np.roll(np.roll(x, dy, axis=0), dx, axis=1))
    return np.stack(out)


def read(classifier: Classifier, images: DrawnSet, *, blur: float = 0.0, tta: bool = False):
    """(probabilities (n, 10) float32, prepared-or-not (n,) bool, refused (n,) bool, refused
    by the shape rules alone (n,) bool) for every image, each classified as the Draw page does
    (through Classifier.classify when no probe is on)."""
    probs = np.zeros((len(images), 10), np.float32)
    ok = np.zeros(len(images), bool)
    refused = np.ones(len(images), bool)
    by_shape = np.ones(len(images), bool)
    for i, image in enumerate(images.files()):
        if not blur and not tta:
            prediction = classifier.classify(image)
            if prediction is None:
                continue
            prepared, probs[i], refused[i] = (
                prediction.prepared,
                prediction.probabilities,
                prediction.refused is not None,
            )
        else:
            prepared = prepare(image)
            if prepared is None:
                continue
            x = soften(prepared.image, blur)
            probs[i] = classifier.probabilities(_shifts(x)).mean(axis=0) if tta else classifier.probabilities(x)
            refused[i] = refusal(prepared, probs[i]) is not None
        ok[i], by_shape[i] = True, refusal(prepared, probs[i], refuse_below=0.0) is not None
    return probs, ok, refused, by_shape


def evaluate(
    classifier: Classifier,
    digits: DrawnSet,
    non_digits: DrawnSet,
    *,
    blur: float = 0.0,
    tta: bool = False,
    restroke: int = 0,
) -> dict[str, float]:
    """Every number this benchmark prints, keyed 'group: name' (accuracies as fractions)."""
    probs, ok, refused, by_shape = read(classifier, digits, blur=blur, tta=tta)
    right = ~refused & (probs.argmax(axis=1) == digits.labels)
    out: dict[str, float] = {
        "overall": float(right.mean()),
        "digits refused (not read)": float(refused.mean()),
        "  of which no digit found (None)": float((~ok).mean()),
        "read right when not refused": float(right.sum() / max(1, (~refused).sum())),
        "calibration error (ECE, prepared digits)": expected_calibration_error(
            probs[ok], probs[ok].argmax(axis=1) == digits.labels[ok]
        ),
    }
    groups = {
        "source": digits.source,
        "style": digits.style,
        "source x style": np.char.add(np.char.add(digits.source, " / "), digits.style),
        "digit": digits.labels.astype(str),
        "form": digits.variant,
        "height px": _band(digits.height, HEIGHT_BANDS),
        "pen px": _band(digits.pen, PEN_BANDS),
    }
    for group, tags in groups.items():
        for tag in sorted(set(tags.tolist())):
            out[f"{group}: {tag}"] = float(right[tags == tag].mean())
    p_non, ok_non, refused_non, by_shape_non = read(classifier, non_digits, blur=blur, tta=tta)
    out["non-digits: refused"] = float(refused_non.mean())
    out["non-digits: no digit found (None)"] = float((~ok_non).mean())
    out["non-digits: read with >= 60% confidence"] = float((~refused_non & (p_non.max(axis=1) >= UNSURE_BELOW)).mean())
    for kind in sorted(set(non_digits.kind.tolist())):
        out[f"non-digit refused: {kind}"] = float(refused_non[non_digits.kind == kind].mean())
    for t in SWEEP:  # the trade-off: other thresholds for the model's confidence
        out[f"refuse below {t:.0%}: digits refused"] = float((by_shape | (probs.max(axis=1) < t)).mean())
        out[f"refuse below {t:.0%}: non-digits refused"] = float((by_shape_non | (p_non.max(axis=1) < t)).mean())
    if restroke:
        out["MNIST re-stroked (old yardstick)"] = _restroke(classifier, restroke)
    return out


def _band(values: np.ndarray, edges: list[int]) -> np.ndarray:
    k = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, len(edges) - 2)
    return np.array([f"{edges[i]:>3}-{edges[i + 1]}" for i in k])


def _restroke(classifier: Classifier, n: int) -> float:
    from cnn.drawings import drawn_set

    right = []
    for start in range(0, n, 250):  # in chunks: 250 drawings at 280x280 RGBA are ~80 MB
        images, labels = drawn_set(min(250, n - start), seed=start)
        for canvas, label in zip(images, labels):
            prediction = classifier.classify(canvas)
            right.append(prediction is not None and prediction.refused is None and prediction.digit == label)
    return float(np.mean(right))


def _models(args) -> list[tuple[str, Classifier]]:
    models = []
    root = Path(args.runs_dir) if args.runs_dir else None
    for run_id in args.run or []:
        models.append((run_id[-6:], classifier_for(store.get_run(run_id, root))))
    seeds = args.train_seeds or ([] if args.run else [0])
    for seed in seeds:
        from cnn.config import PRESETS
        from cnn.train import train

        config = PRESETS[args.preset].replace(**_settings(args.set or []), seed=seed)
        print(f"training {args.preset} {' '.join(args.set or [])}, seed {seed} ...", flush=True)
        result = train(config)
        print(f"  MNIST test accuracy {result.test.accuracy:.2%} in {result.train_seconds:.0f} s", flush=True)
        models.append((f"seed {seed}", Classifier(result.model, config=result.config)))
        trained[f"seed {seed}"] = {"MNIST test": result.test.accuracy, "train seconds": result.train_seconds}
    return models


trained: dict[str, dict[str, float]] = {}  # MNIST test accuracy and train seconds of the models trained here


def _settings(pairs: list[str]) -> dict:
    """``["epochs=3", "batch_norm=true"]`` -> typed TrainConfig changes."""
    from dataclasses import fields

    from cnn.config import TrainConfig

    kinds = {f.name: type(f.default) for f in fields(TrainConfig)}
    out = {}
    for pair in pairs:
        name, _, value = pair.partition("=")
        kind = kinds[name]
        out[name] = value.lower() in ("1", "true", "yes") if kind is bool else kind(value)
    return out


def table(results: list[tuple[str, dict[str, float]]]) -> str:
    """One row per number, one column per model, then mean and spread (max - min)."""
    names = [name for name, _ in results]
    many = len(results) > 1
    head = f"{'':44}" + "".join(f"{n:>10}" for n in names) + (f"{'mean':>9}{'spread':>8}" if many else "")
    lines, last_group = [head], None
    for key in results[0][1]:
        group = key.split(":")[0] if ":" in key else ""
        if group != last_group and ":" in key:
            lines.append("")
        last_group = group
        values = [r[key] for _, r in results]
        row = f"{key:44}" + "".join(f"{100 * v:9.1f}%" for v in values)
        if many:
            row += f"{100 * np.mean(values):8.1f}%{100 * (max(values) - min(values)):7.1f}"
        lines.append(row)
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", nargs="+", help="saved run id(s)")
    parser.add_argument("--runs-dir", help="where the runs are (default: the app's runs folder)")
    parser.add_argument("--train-seeds", type=int, nargs="*", help="train the fast default with these seeds")
    parser.add_argument("--preset", default="fast default", help="the preset --train-seeds trains")
    parser.add_argument("--set", nargs="+", metavar="KNOB=VALUE", help="change the preset's knobs")
    parser.add_argument("--digits", help="a drawn-digit .npz (default data/drawn-digits.npz)")
    parser.add_argument("--non-digits", help="a non-digit .npz (default data/non-digits.npz)")
    parser.add_argument(
        "--restroke",
        type=int,
        default=500,
        help="MNIST test digits re-stroked for the old yardstick's number (0: skip)",
    )
    parser.add_argument("--soften", type=float, default=0.0, help="probe: blur the prepared 28x28 (sigma, px)")
    parser.add_argument("--tta", action="store_true", help="probe: average over one-pixel shifts")
    args = parser.parse_args(argv)
    digits, non_digits = load_drawn_set(args.digits), load_non_digits(args.non_digits)
    results = []
    for name, classifier in _models(args):
        numbers = evaluate(classifier, digits, non_digits, blur=args.soften, tta=args.tta, restroke=args.restroke)
        if name in trained:
            numbers["MNIST test"] = trained[name]["MNIST test"]
        results.append((name, numbers))
    probes = ", ".join(p for p in (args.soften and f"soften {args.soften}", args.tta and "tta") if p)
    print(f"\n{len(digits)} drawn digits, {len(non_digits)} non-digits" + (f"; probes: {probes}" if probes else ""))
    print(table(results))
    sources = [k for k in results[0][1] if k.startswith("source: ")]
    mean = {k: np.mean([r[k] for _, r in results]) for k in sources}
    hardest = min(mean, key=mean.get)
    print(f"\nhardest source: {hardest[len('source: ') :]} ({100 * mean[hardest]:.1f}% mean)")


if __name__ == "__main__":
    main()
