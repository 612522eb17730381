"""How far a prepared drawing is from a typical MNIST digit: its width, stroke thickness and
slant beside the range MNIST's own training digits span, so a learner sees why a drawing
is hard to read (a very thick pen, a strong slant, a digit much wider than MNIST's).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from cnn.drawings import zhang_suen

INK = 0.5  # a pixel of the 28x28 at least this dark is ink
SAMPLE = 3000  # MNIST training digits the typical ranges are measured on
FEATURES = {
    "width": "width of the ink, in pixels of the 28x28 (the taller side is 20)",
    "thickness": "stroke thickness, in pixels (inked pixels per pixel of the stroke's centre line)",
    "slant": "slant: how far the ink leans right (positive) or left per pixel of height",
}


@dataclass(frozen=True)
class Typical:
    low: float  # MNIST's 5th percentile
    median: float
    high: float  # 95th percentile

    def verdict(self, value: float) -> str:
        if value < self.low:
            return "lower than almost any MNIST digit"
        if value > self.high:
            return "higher than almost any MNIST digit"
        return "within MNIST's usual range"


def features(image28: np.ndarray) -> dict[str, float]:
    """Width, stroke thickness and slant of a prepared 28x28 (ink = 1)."""
    a = np.asarray(image28, np.float32)
    ink = a >= INK
    cols = np.flatnonzero(ink.any(axis=0))
    width = float(cols[-1] - cols[0] + 1) if len(cols) else 0.0
    centre_line = int(zhang_suen(ink).sum())
    thickness = float(ink.sum()) / max(centre_line, 1)
    ys, xs = np.nonzero(a > 0)
    w = a[ys, xs]
    if w.sum() > 0:
        my, mx = np.average(ys, weights=w), np.average(xs, weights=w)
        var_y = np.average((ys - my) ** 2, weights=w)
        # x shifts right as y goes up (rows count down): a right lean is a negative covariance.
        slant = float(-np.average((xs - mx) * (ys - my), weights=w) / max(var_y, 1e-6))
    else:
        slant = 0.0
    return {"width": width, "thickness": thickness, "slant": slant}


_typical: dict[str, Typical] | None = None
_lock = threading.Lock()


def mnist_typical() -> dict[str, Typical]:
    """Each feature's 5th percentile, median and 95th percentile over MNIST training digits
    (measured once per process, on a fixed sample)."""
    global _typical
    with _lock:
        if _typical is None:
            from cnn.data import load_mnist

            x = load_mnist().x_train
            pick = np.random.default_rng(0).choice(len(x), SAMPLE, replace=False)
            values = [features(x[i].astype(np.float32) / 255.0) for i in pick]
            _typical = {
                name: Typical(*(float(v) for v in np.percentile([f[name] for f in values], [5, 50, 95])))
                for name in FEATURES
            }
        return _typical
