"""How fast the fast default trains, how much of the CPU it uses, and what could make it faster.

    python benchmarks/train_speed.py                  # full run: ~2-3 minutes on 2 cores
    python benchmarks/train_speed.py --rounds 5       # more rounds of the throughput comparison
    python benchmarks/train_speed.py --skip-full --probe --clock-ghz 4.24   # the speed-ups (~6 min)
    python benchmarks/train_speed.py --record         # also the 'best accuracy' preset (+3 min)

1. Trains the fast default preset on the full data (as the app and `python -m cnn train`
   do) and prints its test accuracy and training seconds (validation included); with
   ``--record``, the 'best accuracy' preset too (the targets: >= 99.0% in <= 8 s, and
   >= 99.6% in <= 180 s).
2. Works out this CPU's fp32 peak (see ``fp32_peak``) and measures how near a large matrix
   product gets to it: the ceiling no CNN layer here can beat.
3. Measures steady-state training throughput (images/s, after a warm-up epoch) of the
   fast default, the seed tutorial and the keras mnist_cnn models on the same images, one
   epoch each in turns; prints the medians, the ratios, the GFLOP/s (``training_flops``)
   and the share of the peak. (The machine's speed swings by up to 2x: compare ratios
   taken within one run, in turns.)
4. ``--probe``: the same for the fast default and its variants, in turns, against the
   default before (float32 at batch 128): bfloat16 arithmetic, larger batches, both (the
   default now), XLA, no augmentation (what the input pipeline costs), then
   TensorFlow's thread settings (each in its own process, as they are fixed at start-up);
   and a full training of each variant a knob can express that is at least 1.2x faster.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from cnn import runtime
from cnn.config import PRESETS, TrainConfig
from cnn.data import load_mnist
from cnn.model import build_model, describe, training_flops
from cnn.train import compile_model, make_dataset, split, train

IMAGES = 6400  # per throughput round
FAST = PRESETS["fast default"]
WORTH_A_TRAINING = 1.2  # a variant at least this much faster gets a full training (--probe)


def cpu_facts() -> dict[str, str]:
    """The first processor's lines of /proc/cpuinfo (every core of this machine is alike)."""
    facts: dict[str, str] = {}
    with open("/proc/cpuinfo") as f:
        for line in f:
            if not line.strip():
                break
            key, _, value = line.partition(":")
            facts[key.strip()] = value.strip()
    return facts


def fp32_peak(clock_ghz: float | None = None) -> tuple[float, str]:
    """(GFLOP/s, how it was counted): this machine's fp32 peak, cores x FLOPs/cycle x clock.

    FLOPs per cycle per core: fp32 lanes of the widest vector unit (16 with AVX-512, 8 with
    AVX/AVX2, 4 with SSE), x 2 when a fused multiply-add does a multiply and an add, x 2
    FMA pipes (every x86 server core since Haswell and Zen 2 has two; a few low-end Xeons
    have one 512-bit unit, which the flags cannot tell). AMD's Zen 4 (family 25) runs each
    512-bit FMA as two 256-bit halves, so AVX-512 counts as 8 lanes there; Zen 5 (family 26,
    EPYC Turin) has full-width 512-bit FMA pipes: 2 x 16 x 2 = 64 FLOPs/cycle.

    The clock: /proc/cpuinfo's "cpu MHz" unless ``clock_ghz`` is given. In a virtual machine
    that is the nominal (TSC) clock; the cores may boost well above it, which no file shows:
    on this 2-core EPYC VM a chain of dependent adds ran at 4.24 GHz (not the 2.60 shown),
    and TensorFlow's one-thread fp32 matmul reached 249 GFLOP/s, more than 64 x 2.60 = 166
    allows. So pass the measured clock (--clock-ghz); a matmul faster than the peak gives it away.
    """
    facts = cpu_facts()
    flags = set(facts.get("flags", "").split())
    lanes = 16 if "avx512f" in flags else 8 if "avx" in flags else 4
    if lanes == 16 and facts.get("vendor_id") == "AuthenticAMD" and facts.get("cpu family") == "25":
        lanes = 8  # Zen 4: 512-bit FMAs in two 256-bit halves
    per_cycle = lanes * (2 if "fma" in flags else 1) * 2
    cores = len(os.sched_getaffinity(0))
    ghz = clock_ghz or float(facts.get("cpu MHz", 0)) / 1000
    where = "--clock-ghz" if clock_ghz else "/proc/cpuinfo"
    how = (
        f"{cores} cores x {per_cycle} FLOP/cycle ({lanes} fp32 lanes x FMA x 2 pipes) x {ghz:.2f} GHz ({where}); "
        f"{facts.get('model name', '?')}, family {facts.get('cpu family', '?')}"
    )
    return cores * per_cycle * ghz, how


def matmul_gflops(n: int = 2048, tries: int = 5) -> float:
    """The best GFLOP/s of an n x n fp32 matrix product on the threads the models get."""
    import tensorflow as tf

    runtime.keras()
    a, b = tf.random.normal((n, n)), tf.random.normal((n, n))
    product = tf.function(tf.matmul)
    product(a, b).numpy()
    best = math.inf
    for _ in range(tries):
        started = time.perf_counter()
        product(a, b).numpy()
        best = min(best, time.perf_counter() - started)
    return 2 * n**3 / best / 1e9


@dataclass
class Trial:
    """One model ready to train an epoch on the same IMAGES images, warmed up."""

    config: TrainConfig
    epoch: Callable[[], None]


def trial(config: TrainConfig, *, jit_compile: bool | None = None) -> Trial:
    """``config``'s model (``jit_compile``: force XLA on or off) compiled and warmed up."""
    config = config.replace(epochs=1, train_size=7200, validation_split=1 / 9)
    x, y, _, _ = split(config, load_mnist())
    assert len(x) == IMAGES  # 7,200 less the validation ninth
    model = build_model(config)
    compile_model(model, config)
    if jit_compile is not None:
        model.jit_compile = jit_compile
    ds = make_dataset(config, x, y)
    model.fit(ds, epochs=1, verbose=0)  # warm-up: tracing, compiling
    return Trial(config, lambda: model.fit(ds, epochs=1, verbose=0))


def in_turns(trials: dict[str, Trial], rounds: int) -> dict[str, float]:
    """Median images/s of each trial, one epoch each in turns, so that the machine's swings
    fall on all of them alike."""
    speeds: dict[str, list[float]] = {name: [] for name in trials}
    for _ in range(rounds):
        for name, t in trials.items():
            started = time.perf_counter()
            t.epoch()
            speeds[name].append(IMAGES / (time.perf_counter() - started))
    print_rounds(speeds)
    return {name: statistics.median(s) for name, s in speeds.items()}


def print_rounds(speeds: dict[str, list[float]]) -> None:
    for name, s in speeds.items():
        print(f"  {name:28s} rounds: {', '.join(f'{v:,.0f}' for v in s)} images/s", flush=True)


def report(speeds: dict[str, float], flops: dict[str, int], peak: float, reference: str) -> None:
    """A table: images/s, GFLOP/s, share of the peak, and the ratio to ``reference``."""
    print(f"  {'':28s} {'images/s':>9s} {'MFLOP/img':>9s} {'GFLOP/s':>8s} {'% peak':>7s}  vs {reference}")
    for name, speed in speeds.items():
        gflops = speed * flops[name] / 1e9
        print(
            f"  {name:28s} {speed:9,.0f} {flops[name] / 1e6:9.1f} {gflops:8.1f} {gflops / peak:7.1%}"
            f"  {speed / speeds[reference]:5.2f}x",
            flush=True,
        )


def full_training(name: str, config: TrainConfig) -> None:
    """Train ``config`` on the full data as the app does; print its accuracy and seconds."""
    result = train(config)
    print(
        f"  {name:28s} test accuracy {result.test.accuracy:.2%} after {result.train_seconds:.1f} s of training "
        f"({result.images_per_s:,.0f} images/s, validation {len(result.history.val_step)}x included)",
        flush=True,
    )


def scaled_batch(batch_size: int, config: TrainConfig) -> TrainConfig:
    """``config`` with another batch and the learning rate scaled with it (the linear rule).
    By measurement (full trainings, seeds 0-2, mixed_bfloat16): batch 256 at 2x the rate gave
    99.09-99.15% MNIST test accuracy, at 1.41x (the square-root rule) 98.96-99.08%."""
    return config.replace(batch_size=batch_size, learning_rate=config.learning_rate * batch_size / config.batch_size)


# The fast default before issue 15: float32 arithmetic, batch 128 (at half the rate).
FLOAT32 = scaled_batch(128, FAST.replace(precision="float32"))


def probe(rounds: int, peak: float) -> None:
    """The fast default and its variants in turns, against float32 at batch 128 (the default
    before), then the thread settings, then a full training of each variant a config
    expresses that is at least WORTH_A_TRAINING faster."""
    knobs = {  # variants a TrainConfig expresses
        "mixed_bfloat16": FLOAT32.replace(precision="mixed_bfloat16"),
        "batch 256, lr x2": scaled_batch(256, FLOAT32),
        "batch 512, lr x4": scaled_batch(512, FLOAT32),
        "bfloat16 + batch 256 (fast default)": FAST,
    }
    trials = {
        "float32, batch 128": trial(FLOAT32),
        **{name: trial(config) for name, config in knobs.items()},
        "fast default with XLA": trial(FAST, jit_compile=True),
        "fast default, no augmentation": trial(FAST.replace(augment=False)),  # what the input pipeline costs
    }
    speeds = in_turns(trials, rounds)
    print("\nthe fast default and its variants (median of rounds, in turns):")
    report(speeds, {name: training_flops(t.config) for name, t in trials.items()}, peak, "float32, batch 128")

    probe_threads(rounds, peak)

    print(
        f"\nfull trainings (2 epochs on all of MNIST, seed {FAST.seed}, as the app trains) of the variants worth one:"
    )
    full_training("float32, batch 128", FLOAT32)
    for name, config in knobs.items():
        if speeds[name] >= WORTH_A_TRAINING * speeds["float32, batch 128"]:
            full_training(name, config)


def probe_threads(rounds: int, peak: float) -> None:
    """The fast default's throughput with TensorFlow's thread pools sized otherwise: a process
    per setting and round (the pools are fixed when TensorFlow starts), in turns."""
    threads = {
        "intra 2, inter 2 (today)": (2, 2),
        "intra 1, inter 1": (1, 1),
        "intra 2, inter 1": (2, 1),
        "intra 1, inter 2": (1, 2),
    }
    speeds: dict[str, list[float]] = {name: [] for name in threads}
    for _ in range(rounds):
        for name, (intra, inter) in threads.items():
            speeds[name].append(thread_child(intra, inter))
    print_rounds(speeds)
    print("\nTensorFlow thread settings (the fast default; median of rounds, in turns):")
    report(
        {name: statistics.median(s) for name, s in speeds.items()},
        dict.fromkeys(threads, training_flops(FAST)),
        peak,
        "intra 2, inter 2 (today)",
    )


def thread_child(intra: int, inter: int) -> float:
    """The fast default's images/s in a new process with these TensorFlow thread counts."""
    out = subprocess.run(
        [sys.executable, __file__, "--threads", f"{intra},{inter}"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "CNN_TF_THREADS": str(intra)},
    )
    return float(out.stdout.split()[-1])


def measure_threads(inter: int) -> None:
    """In a child process (``--threads``): the inter-op pool as asked (intra comes from
    CNN_TF_THREADS), then one warm-up and one measured epoch; prints images/s."""
    import tensorflow as tf

    runtime.keras()
    tf.config.threading.set_inter_op_parallelism_threads(inter)  # TensorFlow has not started yet
    print(in_turns({"fast default": trial(FAST)}, 1)["fast default"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip-full", action="store_true", help="only the throughput comparisons")
    parser.add_argument("--probe", action="store_true", help="measure the fast default's variants too")
    parser.add_argument("--record", action="store_true", help="also train the 'best accuracy' preset (~3 min)")
    parser.add_argument("--clock-ghz", type=float, help="the cores' real clock, when /proc/cpuinfo shows the nominal")
    parser.add_argument("--threads", help=argparse.SUPPRESS)  # "intra,inter": the probe's child processes
    args = parser.parse_args()
    if args.threads:
        measure_threads(int(args.threads.split(",")[1]))
        return

    if not args.skip_full:
        print(
            f"fast default: {describe(FAST)}; {FAST.epochs} epochs, batch {FAST.batch_size}, "
            f"lr {FAST.learning_rate} {FAST.lr_schedule}, augment={FAST.augment}",
            flush=True,
        )
        full_training("fast default", FAST)
    if args.record:
        full_training("best accuracy", PRESETS["best accuracy"])

    peak, how = fp32_peak(args.clock_ghz)
    ceiling = matmul_gflops()
    print(f"\nfp32 peak: {peak:,.0f} GFLOP/s = {how}")
    print(
        f"fp32 matmul 2048x2048 (about the best any layer can do): {ceiling:,.0f} GFLOP/s, "
        f"{ceiling / peak:.0%} of the peak"
    )
    if ceiling > peak:
        print("  (more than the peak: the cores run faster than the clock assumed; pass --clock-ghz)")

    presets = ["fast default", "seed tutorial", "keras mnist_cnn"]
    speeds = in_turns({p: trial(PRESETS[p]) for p in presets}, args.rounds)
    print("\nsteady-state training throughput (median of rounds, same images, batch as in each preset):")
    report(speeds, {p: training_flops(PRESETS[p]) for p in presets}, peak, "fast default")

    if args.probe:
        probe(args.rounds, peak)


if __name__ == "__main__":
    main()
