"""Teaching a model one new style of handwriting: how much it gains, what it loses, how long.

    python benchmarks/finetune_gain.py [--run RUN_ID] [--style typed] [--taught 100] [--held 300]

The new style: digits of one source of cnn.handwriting (default "typed", the hardest for a
model trained on MNIST), in all four file styles, drawn with a seed unlike the shipped
evaluation set's. ``--taught`` of them are labelled (plus the share cnn.finetune holds back
itself), and ``--held`` others of the same style, never seen by the fine-tune, score the
model before and after. Also printed: MNIST test accuracy before and after, and the seconds
the fine-tune took. Targets (issue 13): +10 points on the held-back drawings, MNIST down at
most 0.2 points, <= 20 s.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import run_or_train

from cnn import collection, handwriting
from cnn.finetune import HELD_BACK, finetune
from cnn.predict import classifier_for
from cnn.store import load_model
from cnn.train import probabilities

SEED = 4242  # not the shipped set's (12)


def drawings(style_source: str, start: int, n: int) -> tuple[list[np.ndarray], list[int]]:
    styles = list(handwriting.STYLES)
    images, labels = [], []
    for i in range(start, start + n):
        digit, style = i % 10, styles[(i // 10) % len(styles)]
        plane, *_ = handwriting.make_digit(SEED, i, style_source, style, digit)
        images.append(handwriting.as_file(plane, style))
        labels.append(digit)
    return images, labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run")
    parser.add_argument("--style", default="typed", choices=list(handwriting.SOURCES))
    parser.add_argument("--taught", type=int, default=100)
    parser.add_argument("--held", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    run = run_or_train(args.run, full=True)
    classifier = classifier_for(run)

    given = int(round(args.taught / (1 - HELD_BACK)))  # finetune holds back its own share of what it is given
    root = Path(tempfile.mkdtemp(prefix="finetune-gain-"))
    images, labels = drawings(args.style, 0, given)
    for image, label in zip(images, labels):
        collection.add_drawing(image, label, root=root)
    held_images, held_labels = drawings(args.style, 10_000, args.held)
    prepared = [classifier.classify(image) for image in held_images]
    keep = [i for i, p in enumerate(prepared) if p is not None]
    x = np.stack([np.round(prepared[i].prepared.image * 255).astype(np.uint8) for i in keep])
    y = np.array([held_labels[i] for i in keep])

    before = float((probabilities(load_model(run), x).argmax(1) == y).mean())
    started = time.perf_counter()
    result, report = finetune(run, collection.list_drawings(root), seed=args.seed)
    wall = time.perf_counter() - started
    after = float((probabilities(result.model, x).argmax(1) == y).mean())
    print(f"\nrun {run.id}; new style: {args.style} digits in all four file styles (seed {SEED})")
    print(
        f"taught {report.drawings} drawings; {len(keep)} further held-back drawings of the style "
        f"({args.held - len(keep)} had no digit found)"
    )
    print(f"held-back drawings of the style: {before:.1%} -> {after:.1%} ({100 * (after - before):+.1f} points)")
    print("\n".join(report.lines()))
    print(f"MNIST change: {100 * (report.mnist_after - report.mnist_before):+.2f} points")
    print(f"fine-tune: {report.seconds:.1f} s of teaching ({wall:.1f} s with its evaluations)")


if __name__ == "__main__":
    main()
