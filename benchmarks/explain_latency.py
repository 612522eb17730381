"""Time of the Draw page's "look inside" views for one drawing: saliency + activations.

    python benchmarks/explain_latency.py [--run RUN_ID] [--n 200]

Target: <= 100 ms for all views together on a 2-core CPU (median printed).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from _common import run_or_train

from cnn.drawings import drawn_set
from cnn.explain import explainer_for, first_layer_filters, tile
from cnn.predict import classifier_for


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run")
    parser.add_argument("--n", type=int, default=200)
    args = parser.parse_args()
    run = run_or_train(args.run)
    classifier = classifier_for(run)
    explainer = explainer_for(classifier.model)
    images, _ = drawn_set(args.n, seed=11)
    prepared = [classifier.classify(a) for a in images]
    prepared = [p for p in prepared if p is not None]
    timings = {"saliency": [], "activations": [], "tiles + filters": [], "all views": []}
    for p in prepared:
        t0 = time.perf_counter()
        explainer.saliency(p.prepared.image, p.digit)
        t1 = time.perf_counter()
        maps = explainer.activations(p.prepared.image)
        t2 = time.perf_counter()
        for _, a in maps:
            tile(a)
        tile(first_layer_filters(classifier.model), normalise=False)  # as the page shows them
        t3 = time.perf_counter()
        for key, dt in zip(timings, (t1 - t0, t2 - t1, t3 - t2, t3 - t0)):
            timings[key].append(dt * 1000)
    print(f"run {run.id}: {len(prepared)} drawings")
    for key, values in timings.items():
        print(f"  {key:16s} median {statistics.median(values):6.2f} ms   p99 {np.percentile(values, 99):6.2f} ms")


if __name__ == "__main__":
    main()
