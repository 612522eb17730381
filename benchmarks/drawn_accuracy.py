"""How well a model reads drawings, not just MNIST: the drawn-digit evaluation set.

    python benchmarks/drawn_accuracy.py [--run RUN_ID] [--n 1000] [--seed 0]

The set: MNIST *test* digits redrawn as pen strokes (thinned to a skeleton, re-stroked
with a round pen) at random sizes, places and pen widths on a 280x280 transparent canvas,
as the Draw page receives them (cnn/drawings.py). Each is classified twice with the same
model: through the MNIST-style preparation (cnn/preprocess.py) and through a plain
resize of the whole canvas to 28x28. Prints both accuracies, overall and by pen width
and digit size. Without --run, trains the fast default (full data, ~1 minute).
"""

from __future__ import annotations

import argparse

import numpy as np
from _common import run_or_train
from PIL import Image

from cnn.drawings import drawn_set
from cnn.predict import classifier_for
from cnn.preprocess import ink_map


def plain_resize(canvas: np.ndarray) -> np.ndarray:
    """The naive way: shrink the whole canvas to 28x28."""
    ink = Image.fromarray((ink_map(canvas) * 255).astype(np.uint8))
    return np.asarray(ink.resize((28, 28), Image.BOX), np.float32) / 255


def pen_and_size(canvas: np.ndarray) -> tuple[float, float]:
    """(stroke width, digit height) in canvas pixels, measured from the drawing."""
    alpha = canvas[..., 3] > 127
    rows = np.flatnonzero(alpha.any(1))
    height = float(rows[-1] - rows[0] + 1) if len(rows) else 0.0
    # ink area / skeleton length ~ width; skeleton length ~ ink pixels on the boundary / 2
    edges = alpha & ~(np.roll(alpha, 1, 0) & np.roll(alpha, -1, 0) & np.roll(alpha, 1, 1) & np.roll(alpha, -1, 1))
    return (2 * alpha.sum() / max(edges.sum(), 1)), height


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run")
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    classifier = classifier_for(run_or_train(args.run, full=True, prefer_saved=False))

    mnist_way, naive, pens, sizes = [], [], [], []
    for start in range(0, args.n, 250):  # in chunks: 1000 drawings are ~300 MB
        images, labels = drawn_set(min(250, args.n - start), seed=args.seed * 1000 + start)
        for canvas, label in zip(images, labels):
            prediction = classifier.classify(canvas)  # as the Draw page does
            mnist_way.append(prediction is not None and prediction.digit == label)
            naive.append(classifier.probabilities(plain_resize(canvas)).argmax() == label)
            pen, size = pen_and_size(canvas)
            pens.append(pen)
            sizes.append(size)
    mnist_way, naive, pens, sizes = map(np.asarray, (mnist_way, naive, pens, sizes))
    print(f"\n{len(mnist_way)} drawn digits (MNIST test digits redrawn, seed {args.seed}):")
    print(f"  MNIST-style preparation: {mnist_way.mean():.2%}")
    print(f"  plain resize to 28x28:   {naive.mean():.2%}")
    for name, values, edges in (
        ("pen width px", pens, [0, 10, 16, 22, 1000]),
        ("digit height px", sizes, [0, 100, 160, 220, 1000]),
    ):
        print(f"  by {name}:")
        for lo, hi in zip(edges, edges[1:]):
            m = (values >= lo) & (values < hi)
            if m.any():
                print(
                    f"    {lo:>4}-{hi:<4} n={m.sum():4d}  prepared {mnist_way[m].mean():.2%}  "
                    f"plain {naive[m].mean():.2%}"
                )


if __name__ == "__main__":
    main()
