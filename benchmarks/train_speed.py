"""How fast the fast default trains, and how it compares with the classic tutorials' models.

    python benchmarks/train_speed.py            # full run: ~2-3 minutes on 2 cores
    python benchmarks/train_speed.py --rounds 5 # more rounds of the throughput comparison

1. Trains the fast default preset on the full data (as the app and `python -m cnn train`
   do) and prints its test accuracy and training seconds (validation included).
2. Measures steady-state training throughput (images/s, after a warm-up epoch) of the
   fast default, the seed tutorial and the keras mnist_cnn models on the same images,
   a few one-epoch rounds each; prints the medians and the ratios. (The machine's speed
   swings by up to 2x: compare ratios taken within one run, in turns where you can.)
"""

from __future__ import annotations

import argparse
import statistics
import time

from cnn.config import PRESETS
from cnn.data import load_mnist
from cnn.model import build_model, describe
from cnn.train import compile_model, make_dataset, split, train

IMAGES = 6400  # per throughput round


def throughput(preset: str, rounds: int) -> list[float]:
    config = PRESETS[preset].replace(epochs=1, train_size=7200, validation_split=1 / 9)
    x, y, _, _ = split(config, load_mnist())
    model = build_model(config)
    compile_model(model, config)
    assert len(x) == IMAGES  # 7,200 less the validation ninth
    ds = make_dataset(config, x, y)
    model.fit(ds, epochs=1, verbose=0)  # warm-up: tracing, compiling
    out = []
    for _ in range(rounds):
        started = time.perf_counter()
        model.fit(ds, epochs=1, verbose=0)
        out.append(IMAGES / (time.perf_counter() - started))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip-full", action="store_true", help="only the throughput comparison")
    args = parser.parse_args()

    if not args.skip_full:
        config = PRESETS["fast default"]
        print(
            f"fast default: {describe(config)}; {config.epochs} epochs, batch {config.batch_size}, "
            f"lr {config.learning_rate} {config.lr_schedule}, augment={config.augment}",
            flush=True,
        )
        result = train(config)
        print(
            f"fast default on the full data: test accuracy {result.test.accuracy:.2%} after "
            f"{result.train_seconds:.1f} s of training ({result.images_per_s:,.0f} images/s, "
            f"validation {len(result.history.val_step)}x included)",
            flush=True,
        )

    presets = ["fast default", "seed tutorial", "keras mnist_cnn"]
    speeds = {}
    for p in presets:  # one model at a time (each keeps its compiled graph), rounds inside
        speeds[p] = throughput(p, args.rounds)
        print(f"  {p:16s} rounds: {', '.join(f'{s:,.0f}' for s in speeds[p])} images/s", flush=True)
    fast = statistics.median(speeds["fast default"])
    print("\nsteady-state training throughput (median of rounds, same images, batch as in each preset):")
    for p in presets:
        m = statistics.median(speeds[p])
        print(f"  {p:16s} {m:8,.0f} images/s   fast default is {fast / m:4.1f}x this")


if __name__ == "__main__":
    main()
