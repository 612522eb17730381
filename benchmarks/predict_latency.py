"""How long the Draw page takes to answer one stroke, with the model already loaded.

    .venv/bin/python benchmarks/predict_latency.py [--run RUN_ID] [-n 300] [--seed 0]

Over ``n`` synthetic drawings (``cnn.drawings.drawn_set``: MNIST test digits re-drawn at
random sizes, places and pen widths on a 280x280 canvas) it times:

  (a) page    the page's own work per stroke: the canvas's PNG data URL -> bytes -> array
              (``decode_image``) -> prepare -> classify             target: median <= 10 ms
  (b) direct  prepare + classify of the 280x280 RGBA array              target: median <= 5 ms
  (c) predict ``model.predict`` of the same prepared 28x28 image (what not to do per stroke)

and the model call alone inside (b) (``Classifier.probabilities``), to show how much
``model.predict``'s per-call set-up costs compared with calling the traced model.

The model: ``--run``, else the best saved run, else a quick one trained here (the fast
default on 10,000 images, one epoch; not saved).
"""

from __future__ import annotations

import argparse
import base64
import io
import os
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from _common import run_or_train
from PIL import Image

from cnn.drawings import drawn_set
from cnn.imagefile import decode_image
from cnn.predict import classifier_for

TARGETS_MS = {"page": 10.0, "direct": 5.0}


def data_url(rgba: np.ndarray) -> str:
    """The canvas's value: its RGBA pixels as a PNG data URL."""
    buf = io.BytesIO()
    Image.fromarray(rgba).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def timed(fn, items, warmup: int = 10) -> tuple[np.ndarray, list]:
    for item in items[:warmup]:
        fn(item)
    times, results = [], []
    for item in items:
        start = time.perf_counter()
        results.append(fn(item))
        times.append(time.perf_counter() - start)
    return np.asarray(times) * 1000.0, results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", help="a saved run id (default: the best saved run)")
    parser.add_argument("-n", type=int, default=300, help="drawings to time (default 300)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    run = run_or_train(args.run)
    clf, what = classifier_for(run), f"run {run.id} ({run.label})"
    images, labels = drawn_set(args.n, seed=args.seed)
    urls = [data_url(im) for im in images]
    print(f"Model: {what}\n{args.n} drawings, 280x280 RGBA, CPU threads: {os.cpu_count()}\n")

    def page(url: str):
        _, encoded = url.split(";base64,", 1)  # what CanvasResult.image_bytes does
        return clf.classify(decode_image(base64.b64decode(encoded)))

    page_ms, _ = timed(page, urls)
    direct_ms, predictions = timed(clf.classify, list(images))
    found = [(p, y) for p, y in zip(predictions, labels) if p is not None]
    prepared = [p.prepared.image for p, _ in found]
    model_ms, _ = timed(clf.probabilities, prepared)
    predict_ms, _ = timed(lambda im: clf.model.predict(im.reshape(1, 28, 28, 1), verbose=0), prepared)

    rows = [
        ("(a) page: data URL -> decode -> prepare -> classify", page_ms, TARGETS_MS["page"]),
        ("(b) direct: prepare + classify of the array", direct_ms, TARGETS_MS["direct"]),
        ("    of which the model call (traced, direct)", model_ms, None),
        ("(c) model.predict of the prepared 28x28", predict_ms, None),
    ]
    print(f"{'':55s} {'median':>8s} {'p99':>8s}  target")
    for name, ms, target in rows:
        verdict = "" if target is None else f"<= {target:g} ms median: {'ok' if np.median(ms) <= target else 'MISSED'}"
        print(f"{name:55s} {np.median(ms):7.2f}ms {np.percentile(ms, 99):7.2f}ms  {verdict}")
    print(
        f"\nmodel.predict / (b) direct (median): {np.median(predict_ms) / np.median(direct_ms):.0f}x; "
        f"/ the direct model call: {np.median(predict_ms) / np.median(model_ms):.0f}x"
    )
    right = sum(p.digit == y for p, y in found)
    print(f"Drawings read right: {right}/{args.n} ({right / args.n:.1%}); {args.n - len(found)} found blank")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
