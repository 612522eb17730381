"""Time of the Draw page's "look inside" views for one drawing: saliency + activations.

    python benchmarks/explain_latency.py [--run RUN_ID] [--n 200]

Target: <= 100 ms for all views together on a 2-core CPU (median printed).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cnn import store  # noqa: E402
from cnn.config import PRESETS  # noqa: E402
from cnn.drawings import drawn_set  # noqa: E402
from cnn.explain import explainer_for, first_layer_filters, tile  # noqa: E402
from cnn.predict import classifier_for  # noqa: E402
from cnn.train import train  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run")
    parser.add_argument("--n", type=int, default=200)
    args = parser.parse_args()
    run = store.get_run(args.run) if args.run else store.best_run()
    if run is None:
        import tempfile

        print("no saved run: training the fast default on 10k images first", flush=True)
        result = train(PRESETS["fast default"].replace(epochs=1, train_size=10000))
        run = store.save_run(result, "explain benchmark", Path(tempfile.mkdtemp()))
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
