"""How well whole numbers are read: does cutting a number into digits lose anything?

    python benchmarks/number_accuracy.py [--run RUN_ID] [--runs-dir DIR] [--per-cell 60] [--seed 0]

The numbers: 2 to 6 digits, each digit a drawn digit from ``data/drawn-digits.npz``
(``cnn.handwriting``, not derived from MNIST) of the rgba, white-on-black and dark-on-white
styles (their ink maps are the clean drawn ink; the photo-style ones carry their photo's
paper, which a second photograph would double), all the digits of a number from one source
(one hand and pen writes a number: no hairline digit beside a marker's). Each digit is cropped to its ink box,
scaled to a common height (100 px, +-15% per digit), moved up or down a little and placed
left to right with the gap between ink boxes of 0, 5, 10, 20 or 30 px; "touching" numbers
have gaps of 5-20 px except one pair pushed together until their ink overlaps by 2 px. The
number is then made into a file in one of the set's four styles, in turn: a transparent
RGBA canvas, white on black, dark on white, or a photographed sheet (``to_style``: uneven
light, shadow, ruled lines, blur, sensor noise).

Each number is read as the Draw page's number mode reads it (``cnn.number.read_number``);
it is right when every digit is found and read right. The yardsticks, both the same model:

- single: the pool's digits read one at a time, as stored (``Classifier.classify``);
- alone: each digit of each number read alone, scaled and styled as in its number
  (the same digits, the same size and style, no neighbours).

The target: whole-number accuracy >= 0.95 x single^k for k digits. Printed per gap and
length: numbers, whole-number accuracy, the share with the right count of digits, single^k,
the ratio to it, and the ratio to the alone yardstick (the product over its own digits).
Then, outside the totals, touching digits on the canvas (RGBA), read by connected ink
and by the canvas's strokes (the Draw page passes them; here each digit is one stroke,
and a digit drawn in several strokes would rely on their spans overlapping, as digits
apart already do): the touching numbers, and "chains", whose every pair of neighbours
touches (each pushed together as the touching pair is), per length, with the median
time to read one. Last, the latency of a 6-digit number on the
app's 700x280 canvas (split, prepare and the batched classifications), median and 90th
percentile over 200 numbers.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
from PIL import Image

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from _common import run_or_train

from cnn import store
from cnn.handwriting import add_noise, as_file, load_drawn_set, to_style
from cnn.number import read_number
from cnn.predict import classifier_for
from cnn.preprocess import ink_map, prepare_ink

LENGTHS = (2, 3, 4, 5, 6)
GAPS = ("0", "5", "10", "20", "30", "touching")
STYLES = ("rgba", "white-on-black", "dark-on-white", "photo")
HEIGHT = 100  # px, the digits' common height before jitter
MARGIN = 30  # px of empty canvas around the number


def digit_pool(drawn):
    """(ink crops, labels, sources) of the non-photo drawn digits: their kept ink, cropped to its box."""
    crops, labels, sources = [], [], []
    for i in np.flatnonzero(drawn.style != "photo"):
        ink = ink_map(drawn.image(i))
        prepared = prepare_ink(ink)
        if prepared is None:
            continue
        t, left, b, r = prepared.box
        crops.append(ink[t:b, left:r])
        labels.append(int(drawn.labels[i]))
        sources.append(str(drawn.source[i]))
    return crops, np.array(labels), np.array(sources)


def pick(sources: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k digits of one source, picked at random: one hand (and pen) writes a number."""
    source = rng.choice(sorted(set(sources.tolist())))
    return rng.choice(np.flatnonzero(sources == source), size=k)


def scaled(crop: np.ndarray, height: int) -> np.ndarray:
    h, w = crop.shape
    width = max(1, round(w * height / h))
    return np.clip(np.asarray(Image.fromarray(crop).resize((width, height), Image.BILINEAR)), 0, 1)


def touching_offset(a: np.ndarray, a_top: int, b: np.ndarray, b_top: int, overlap: int = 2) -> int:
    """How far right of a's right edge b's left edge goes so that their ink overlaps by
    ``overlap`` px in the row where they come closest (negative: b's box starts inside a's)."""
    best = None
    for row in range(max(a_top, b_top), min(a_top + a.shape[0], b_top + b.shape[0])):
        ra, rb = a[row - a_top] > 0.5, b[row - b_top] > 0.5
        if ra.any() and rb.any():
            distance = (a.shape[1] - 1 - np.flatnonzero(ra)[-1]) + np.flatnonzero(rb)[0]
            best = distance if best is None else min(best, distance)
    return -(best if best is not None else 0) - overlap


def compose(digits: list[np.ndarray], gap: str, rng: np.random.Generator, height: int = HEIGHT):
    """The ink of a number (float32, digits pasted left to right) and each digit's (top, left)."""
    canvas_h = int(height * 1.2) + 2 * MARGIN
    tops = [MARGIN + int(rng.integers(0, max(1, canvas_h - 2 * MARGIN - d.shape[0] + 1))) for d in digits]
    if gap == "touching":
        gaps = [int(rng.integers(5, 21)) for _ in digits[1:]]
        k = int(rng.integers(len(gaps)))
        gaps[k] = touching_offset(digits[k], tops[k], digits[k + 1], tops[k + 1])
    elif gap == "chain":
        gaps = [touching_offset(a, ta, b, tb) for a, ta, b, tb in zip(digits, tops, digits[1:], tops[1:])]
    else:
        gaps = [int(gap)] * (len(digits) - 1)
    lefts = [MARGIN]
    for d, g in zip(digits, gaps):
        lefts.append(lefts[-1] + d.shape[1] + g)
    ink = np.zeros((canvas_h, lefts[-1] + digits[-1].shape[1] + MARGIN), np.float32)
    for d, t, left in zip(digits, tops, lefts):
        view = ink[t : t + d.shape[0], left : left + d.shape[1]]
        np.maximum(view, d, out=view)
    return ink, list(zip(tops, lefts))


def styled(ink: np.ndarray, style: str, rng: np.random.Generator, key: int) -> np.ndarray:
    plane, sigma = to_style(ink, style, rng)
    return as_file(add_noise(plane, sigma, key), style)


def stroke_labels(digits: list[np.ndarray], places: list[tuple[int, int]], shape: tuple[int, int]) -> np.ndarray:
    """Which digit drew each pixel (1, 2, ...; a later one over an earlier): the canvas's
    strokes as the page passes them to the reader, each digit taken as one stroke."""
    which = np.zeros(shape, np.int32)
    for k, (d, (top, left)) in enumerate(zip(digits, places), start=1):
        view = which[top : top + d.shape[0], left : left + d.shape[1]]
        view[d > 0.02] = k
    return which


def touching_on_canvas(classifier, crops, labels, sources, per_cell: int, seed: int) -> dict:
    """For each (length, "touching" or "chain"), on RGBA canvases: (accuracy read by
    connected ink, accuracy read by the canvas's strokes, median ms by ink, by strokes).
    "chain": every pair of neighbours touches (each pushed together as the touching pair is)."""
    out = {}
    for k in LENGTHS:
        for gap in ("touching", "chain"):
            rng = np.random.default_rng([seed, k, len(GAPS) + (gap == "touching")])
            right = [0, 0]
            times: list[list[float]] = [[], []]
            for n in range(per_cell):
                picks = pick(sources, k, rng)
                digits = [scaled(crops[i], round(HEIGHT * rng.uniform(0.85, 1.15))) for i in picks]
                ink, places = compose(digits, gap, rng)
                image = styled(ink, "rgba", rng, ((seed * 10 + k) * 10 + len(GAPS)) * 100_000 + n)
                truth = "".join(str(labels[i]) for i in picks)
                for j, strokes in enumerate((None, stroke_labels(digits, places, ink.shape))):
                    start = time.perf_counter()
                    reading = read_number(classifier, image, strokes)
                    times[j].append((time.perf_counter() - start) * 1000)
                    right[j] += reading is not None and reading.number == truth
            out[k, gap] = (right[0] / per_cell, right[1] / per_cell, *(float(np.median(t)) for t in times))
    return out


def measure(classifier, crops, labels, sources, per_cell: int, seed: int) -> tuple[dict, dict]:
    """For each (length, gap): (numbers, whole-number accuracy, share with the right count of
    digits, alone yardstick); and for each style, (k, right, alone) for each of its numbers."""
    results, by_style = {}, {}
    for k in LENGTHS:
        for gap in GAPS:
            rng = np.random.default_rng([seed, k, GAPS.index(gap)])
            right = count_right = 0
            alone_products = []
            for n in range(per_cell):
                style = STYLES[n % len(STYLES)]
                picks = pick(sources, k, rng)
                digits = [scaled(crops[i], round(HEIGHT * rng.uniform(0.85, 1.15))) for i in picks]
                ink, _ = compose(digits, gap, rng)
                key = ((seed * 10 + k) * 10 + GAPS.index(gap)) * 100_000 + n
                truth = "".join(str(labels[i]) for i in picks)
                reading = read_number(classifier, styled(ink, style, rng, key))
                got = reading.number if reading is not None else ""
                right += got == truth
                count_right += len(got) == k
                alone = 1.0
                for d, i in zip(digits, picks):
                    single_ink = np.zeros((ink.shape[0], d.shape[1] + 2 * MARGIN), np.float32)
                    single_ink[MARGIN : MARGIN + d.shape[0], MARGIN : MARGIN + d.shape[1]] = d
                    p = classifier.classify(styled(single_ink, style, rng, key))
                    alone *= p is not None and p.digit == labels[i]
                alone_products.append(alone)
                by_style.setdefault(style, []).append((k, got == truth, alone))
            results[k, gap] = (per_cell, right / per_cell, count_right / per_cell, float(np.mean(alone_products)))
    return results, by_style


def latency(classifier, crops, sources, rng: np.random.Generator, n: int = 200) -> tuple[float, float]:
    """Median and 90th percentile (ms) of reading a 6-digit number on a 700x280 RGBA canvas."""
    times = []
    for _ in range(n + 5):
        digits = [scaled(crops[i], round(130 * rng.uniform(0.9, 1.1))) for i in pick(sources, 6, rng)]
        ink, _ = compose(digits, str(int(rng.integers(5, 16))), rng, height=130)
        canvas = np.zeros((280, 700, 4), np.uint8)
        h, w = min(280, ink.shape[0]), min(700, ink.shape[1])
        canvas[:h, :w, 3] = np.round(ink[:h, :w] * 255)
        start = time.perf_counter()
        read_number(classifier, canvas)
        times.append(time.perf_counter() - start)
    times = np.array(times[5:]) * 1000  # the first few warm up
    return float(np.median(times)), float(np.percentile(times, 90))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", help="a saved run id (default: the best saved run, else train the fast default)")
    parser.add_argument("--runs-dir", help="where the runs are (default: the app's runs folder)")
    parser.add_argument("--per-cell", type=int, default=60, help="numbers per (length, gap)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.run and args.runs_dir:
        run = store.get_run(args.run, Path(args.runs_dir))
    else:
        run = run_or_train(args.run)
    classifier = classifier_for(run)
    print(f"model: {run.id} ({run.name}), MNIST test accuracy {run.test_accuracy:.2%}")

    drawn = load_drawn_set()
    crops, labels, sources = digit_pool(drawn)
    pool = np.flatnonzero(drawn.style != "photo")
    single_right = [(p := classifier.classify(drawn.image(i))) is not None and p.digit == drawn.labels[i] for i in pool]
    single = float(np.mean(single_right))
    print(f"pool: {len(pool)} drawn digits (rgba, white-on-black, dark-on-white), single-digit accuracy {single:.2%}")
    print(f"{args.per_cell} numbers per cell, styles in turn: {', '.join(STYLES)}\n")

    results, by_style = measure(classifier, crops, labels, sources, args.per_cell, args.seed)
    head = f"{'digits':>6} {'gap px':>9} {'numbers':>8} {'whole':>7} {'count ok':>9} {'single^k':>9}"
    print(head + f" {'ratio':>6} {'alone':>7} {'ratio':>6}")
    totals = {}
    for (k, gap), (n, acc, count, alone) in results.items():
        expected = single**k
        print(
            f"{k:>6} {gap:>9} {n:>8} {acc:>7.1%} {count:>9.1%} {expected:>9.1%} {acc / expected:>6.2f}"
            f" {alone:>7.1%} {acc / alone if alone else float('nan'):>6.2f}"
        )
        for key in (("length", k), ("gap", gap), ("all", "")):
            t = totals.setdefault(key, [0, 0.0, 0.0, 0.0])
            t[0] += n
            t[1] += acc * n
            t[2] += expected * n
            t[3] += alone * n
    print()
    for key in sorted(totals, key=lambda key: (["length", "gap", "all"].index(key[0]), str(key[1]).zfill(3))):
        n, acc, expected, alone = totals[key]
        print(
            f"{key[0]:>6} {key[1]!s:>9} {n:>8} {acc / n:>7.1%} {'':>9} {expected / n:>9.1%} {acc / expected:>6.2f}"
            f" {alone / n:>7.1%} {acc / alone:>6.2f}"
        )
    print()
    for style, numbers in by_style.items():
        k, right, alone = (np.array(column, float) for column in zip(*numbers))
        expected = float(np.mean(single**k))
        print(
            f"{style:>16} {len(k):>8} {right.mean():>7.1%} {'':>9} {expected:>9.1%}"
            f" {right.mean() / expected:>6.2f} {alone.mean():>7.1%} {right.mean() / alone.mean():>6.2f}"
        )
    print(
        f"\ntouching digits on the canvas ({args.per_cell} RGBA canvases a cell; chain: every pair touches),"
        "\nread by connected ink, and by the canvas's strokes (each digit one stroke here):"
    )
    head = f"{'digits':>6} {'gap px':>9} {'ink':>7} {'ratio':>6} {'strokes':>8} {'ratio':>6}"
    print(head + f" {'ms ink':>7} {'strokes':>8}")
    for (k, gap), (ink_acc, stroke_acc, ink_ms, stroke_ms) in touching_on_canvas(
        classifier, crops, labels, sources, args.per_cell, args.seed
    ).items():
        print(
            f"{k:>6} {gap:>9} {ink_acc:>7.1%} {ink_acc / single**k:>6.2f} {stroke_acc:>8.1%}"
            f" {stroke_acc / single**k:>6.2f} {ink_ms:>7.1f} {stroke_ms:>8.1f}"
        )
    median, p90 = latency(classifier, crops, sources, np.random.default_rng([args.seed, 99]))
    print(f"\n6-digit number on a 700x280 canvas: median {median:.1f} ms, 90th percentile {p90:.1f} ms")


if __name__ == "__main__":
    main()
