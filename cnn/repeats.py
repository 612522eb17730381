"""Differences you can trust: runs that share every knob but the seed are one *setting*,
with a mean and a spread; two settings differ for real only when their means are further
apart than their seeds alone move them.

Three seeds of the same default land 0.1-0.2 points apart on MNIST and ~2 points apart on
drawn digits, as far apart as most knobs move them: "dropout 0.4 beat 0.25" means nothing
until it beats the noise.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields

from cnn.config import TrainConfig, knob_range
from cnn.store import RunInfo


@dataclass(frozen=True)
class Setting:
    """Every run trained with one configuration, whatever its seed."""

    config: TrainConfig  # with seed 0: the setting, not any one run
    runs: tuple[RunInfo, ...]
    values: tuple[float, ...]  # each run's score (test accuracy unless said otherwise)

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return sum(self.values) / self.n

    @property
    def std(self) -> float:
        """The sample standard deviation over seeds (0 for a single run)."""
        if self.n < 2:
            return 0.0
        m = self.mean
        return math.sqrt(sum((v - m) ** 2 for v in self.values) / (self.n - 1))

    @property
    def spread(self) -> float:
        return max(self.values) - min(self.values)


def settings(runs: Sequence[RunInfo], score: Callable[[RunInfo], float | None] | None = None) -> list[Setting]:
    """The usable runs grouped by configuration less the seed, most repeated first."""
    score = score or (lambda run: run.test_accuracy)
    groups: dict[TrainConfig, list[tuple[RunInfo, float]]] = {}
    for run in runs:
        value = score(run) if not run.damaged and run.config is not None else None
        if value is not None and math.isfinite(value):
            groups.setdefault(run.config.replace(seed=0), []).append((run, value))
    found = [Setting(c, tuple(r for r, _ in g), tuple(v for _, v in g)) for c, g in groups.items()]
    return sorted(found, key=lambda s: (-s.n, -s.mean))


def one_knob_apart(a: Setting, b: Setting) -> str | None:
    """The one knob two settings differ in, if exactly one."""
    differ = [f.name for f in fields(TrainConfig) if getattr(a.config, f.name) != getattr(b.config, f.name)]
    return differ[0] if len(differ) == 1 else None


@dataclass(frozen=True)
class Verdict:
    knob: str
    a: Setting
    b: Setting
    difference: float  # b's mean minus a's
    noise: float  # about two standard errors of that difference
    real: bool

    @property
    def words(self) -> str:
        label = knob_range(self.knob)["label"].lower()
        va, vb = getattr(self.a.config, self.knob), getattr(self.b.config, self.knob)
        head = (
            f"{label} {vb} vs {va}: {100 * self.difference:+.2f} points "
            f"({self.b.n} and {self.a.n} seed{'s' if self.a.n + self.b.n > 2 else ''})"
        )
        if self.noise == 0:
            return f"{head}: with one run each there is no telling; repeat each with 3 seeds."
        if self.real:
            return f"{head}: larger than the seeds' noise (about ±{100 * self.noise:.2f}): a real difference."
        return f"{head}: within the noise (seeds alone move it by about ±{100 * self.noise:.2f})."


def verdict(a: Setting, b: Setting, knob: str) -> Verdict:
    """Is b better or worse than a for real? Two standard errors of the difference of means, from
    the seeds' own spread; a setting run once borrows the other's spread."""
    sa, sb = a.std or b.std, b.std or a.std
    noise = 2 * math.sqrt(sa**2 / a.n + sb**2 / b.n) if (a.n > 1 or b.n > 1) else 0.0
    difference = b.mean - a.mean
    return Verdict(knob, a, b, difference, noise, noise > 0 and abs(difference) > noise)


def verdicts(found: Sequence[Setting]) -> list[Verdict]:
    """Every pair of settings one knob apart, at least one of them repeated."""
    out = []
    for i, a in enumerate(found):
        for b in found[i + 1 :]:
            knob = one_knob_apart(a, b)
            if knob and (a.n > 1 or b.n > 1):
                lo, hi = sorted((a, b), key=lambda s: _order(getattr(s.config, knob)))
                out.append(verdict(lo, hi, knob))
    return out


def _order(value) -> tuple:
    return (0, float(value), "") if isinstance(value, (int, float)) else (1, 0.0, str(value))


MAX_SWEEP = 12  # runs one sweep may queue


def parse_values(knob: str, text: str) -> list:
    """'0.1, 0.25, 0.4' -> the knob's values, typed (ConfigError naming the knob if one is wrong)."""
    from cnn.config import ConfigError

    default = getattr(TrainConfig(), knob)
    out = []
    for part in (p.strip() for p in str(text).split(",")):
        if not part:
            continue
        try:
            if isinstance(default, bool):
                value = {"yes": True, "true": True, "on": True, "no": False, "false": False, "off": False}[part.lower()]
            elif isinstance(default, int):
                value = int(part)
            elif isinstance(default, float):
                value = float(part)
            else:
                value = part
        except (KeyError, ValueError):
            raise ConfigError({knob: f"{part!r} is not a value for it"}) from None
        out.append(value)
    if not out:
        raise ConfigError({knob: "give one or more values, separated by commas"})
    return list(dict.fromkeys(out))


def sweep(base: TrainConfig, grid: dict[str, list], name: str = "sweep") -> list[tuple[TrainConfig, str]]:
    """Every combination of the ``grid``'s values (one knob, or two for a grid) on ``base``:
    (config, name) pairs; each config is checked, so a bad value fails before anything runs."""
    from itertools import product

    knobs = list(grid)
    combos = list(product(*(grid[k] for k in knobs)))
    if not 1 <= len(knobs) <= 2 or len(combos) > MAX_SWEEP:
        from cnn.config import ConfigError

        raise ConfigError({knobs[0] if knobs else "sweep": f"a sweep is one or two knobs and at most {MAX_SWEEP} runs"})
    return [
        (
            base.replace(**dict(zip(knobs, values))),
            f"{name}: " + ", ".join(f"{knob_range(k)['label'].lower()} {v}" for k, v in zip(knobs, values)),
        )
        for values in combos
    ]
