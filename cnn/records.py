"""The records a training run produces: progress snapshots, the per-step history, the test metrics.

Plain dataclasses shared by training, the saved runs, the job queue and the pages, with
their JSON form (``to_dict`` / ``from_dict``) in one place. ``from_dict`` reads what may
have been edited by hand (a run's ``run.json``), so it checks every value's type and
range and raises ``ValueError`` naming the first bad one.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any


@dataclass
class Snapshot:
    """What a progress bar or a live chart needs at one moment of a run."""

    step: int
    total_steps: int
    epoch: int  # 1-based
    epochs: int
    loss: float  # this step's
    accuracy: float
    val_accuracy: float | None  # the latest validation score
    images_per_s: float
    elapsed: float
    eta: float

    @property
    def fraction(self) -> float:
        return self.step / self.total_steps if self.total_steps else 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Snapshot:
        return cls(**{f.name: values[f.name] for f in fields(cls)})


@dataclass
class History:
    """Every step's loss and accuracy, the validation points and where epochs ended."""

    step: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    time: list[float] = field(default_factory=list)  # seconds since the start of fitting
    val_step: list[int] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    val_time: list[float] = field(default_factory=list)
    epoch_end_steps: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, list]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> History:
        if not isinstance(values, dict):
            raise ValueError("history is not an object")
        return cls(**{f.name: numbers(values.get(f.name, []), f"history.{f.name}") for f in fields(cls)})


@dataclass
class TestMetrics:
    accuracy: float
    loss: float
    confusion: list[list[int]]  # confusion[true][predicted]
    misclassified: list[int]  # test-set indices
    predicted: list[int]  # the model's digit for each misclassified index
    confidence: list[float]  # its probability for that digit

    @property
    def per_class_accuracy(self) -> list[float]:
        return [row[i] / max(sum(row), 1) for i, row in enumerate(self.confusion)]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TestMetrics:
        if not isinstance(values, dict):
            raise ValueError("test is not an object")
        confusion = values["confusion"]
        if not isinstance(confusion, list) or len(confusion) != 10:
            raise ValueError("test.confusion is not a 10x10 table")
        return cls(
            accuracy=fraction(values["accuracy"], "test.accuracy"),
            loss=number(values["loss"], "test.loss"),
            confusion=[[int(v) for v in numbers(row, "test.confusion")] for row in confusion],
            misclassified=[int(v) for v in numbers(values["misclassified"], "test.misclassified")],
            predicted=[int(v) for v in numbers(values["predicted"], "test.predicted")],
            confidence=numbers(values["confidence"], "test.confidence"),
        )


def number(value: Any, name: str) -> float:
    """``value`` as a finite float (bools are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} is not a finite number ({str(value)[:40]!r})")
    return float(value)


def fraction(value: Any, name: str) -> float:
    """``value`` as a finite float in [0, 1] (an accuracy)."""
    v = number(value, name)
    if not 0.0 <= v <= 1.0:
        raise ValueError(f"{name} is {v:g}, outside 0..1")
    return v


def numbers(values: Any, name: str) -> list:
    """A list of finite numbers, as given (ints stay ints)."""
    if not isinstance(values, list):
        raise ValueError(f"{name} is not a list")
    for v in values:
        number(v, name)
    return list(values)
