"""What the benchmarks share: the model to measure.

Benchmarks import ``cnn`` as an installed package (``pip install -e .``, which the README's
test command does), never the UI.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from cnn import store
from cnn.config import DEFAULT_PRESET, PRESETS
from cnn.store import RunInfo
from cnn.train import train

QUICK = PRESETS[DEFAULT_PRESET].replace(epochs=1, train_size=10_000)  # ~97%: enough to time things


def run_or_train(run_id: str | None, *, full: bool = False, prefer_saved: bool = True) -> RunInfo:
    """The run named ``run_id``; else the best saved run (unless ``prefer_saved`` is off); else
    the fast default trained now (``full``: on all of MNIST, as the app would; otherwise a
    quick model) and saved in a temporary runs folder."""
    if run_id:
        return store.get_run(run_id)
    run = store.best_run() if prefer_saved else None
    if run is not None:
        print(f"using saved run {run.id} ({run.label})", flush=True)
        return run
    config = PRESETS[DEFAULT_PRESET] if full else QUICK
    print(f"training the fast default on {config.train_size:,} images, {config.epochs} epoch(s) ...", flush=True)
    result = train(config)
    print(f"  test accuracy {result.test.accuracy:.2%} after {result.train_seconds:.0f} s of training", flush=True)
    return store.save_run(result, "benchmark run", Path(tempfile.mkdtemp(prefix="benchmark-runs-")))
