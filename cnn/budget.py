"""How long a training job will take, before it starts: for the estimate shown beside Start
and the teacher's time budget per student job.

Time = the training FLOPs of every image seen, at this machine's speed, plus a fixed cost
per step (small models on a CPU are bound by it, not by their arithmetic). The speed is
measured from the runs already saved here (their images/s times their FLOPs per image),
so the estimate follows the machine; with no runs yet, a figure measured on a 2-core VM.
It is an estimate, good to a factor of about two: enough to tell a one-minute job from
a five-hour one.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from cnn.config import TrainConfig
from cnn.model import training_flops
from cnn.store import RunInfo

DEFAULT_FLOPS_PER_S = 60e9  # fast default ~7,000 images/s, keras mnist_cnn ~650, here
STEP_SECONDS = 0.005  # keras' own work per step, whatever the model


def machine_speed(runs: Sequence[RunInfo]) -> float:
    """FLOP/s this machine trains at, from the saved runs (the median of the newest ten)."""
    speeds = [
        training_flops(run.config) * run.images_per_s
        for run in runs[:10]
        if not run.damaged and run.config is not None and run.images_per_s > 0
    ]
    return statistics.median(speeds) if speeds else DEFAULT_FLOPS_PER_S


def estimate_seconds(config: TrainConfig, flops_per_s: float = DEFAULT_FLOPS_PER_S) -> float:
    images = config.epochs * config.fit_images
    steps = config.epochs * config.steps_per_epoch
    return images * training_flops(config) / flops_per_s + steps * STEP_SECONDS


def over_budget(config: TrainConfig, budget_minutes: float, flops_per_s: float) -> str | None:
    """Why ``config`` may not start under a budget of ``budget_minutes`` (None if it may)."""
    minutes = estimate_seconds(config, flops_per_s) / 60
    if minutes <= budget_minutes:
        return None
    return (
        f"This would train for about {minutes:.0f} minutes; the teacher allows at most {budget_minutes:g} "
        "minutes per job. Use fewer epochs, fewer training images or a smaller network."
    )
