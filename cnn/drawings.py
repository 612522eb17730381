"""Synthetic "drawn" digits: MNIST digits re-drawn as pen strokes on a big canvas.

People draw on the app's 280x280 canvas small or big, off-centre, with a thick or thin
pen - nothing like MNIST's neat centred digits. These drawings let tests and evaluations
see that variety with known labels:

1. thin an MNIST digit to a one-pixel skeleton (Zhang-Suen thinning),
2. scale the skeleton so the drawing is `size` pixels tall, centred on `center`,
3. stamp a round pen of diameter `pen` along it, anti-aliased, into the alpha channel of
   a transparent RGBA canvas - what streamlit-drawable-canvas returns.

Only numpy and Pillow, and the verified MNIST from cnn.data.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

from cnn.data import load_mnist

UPSAMPLE = 3  # the digit is thinned at 3x its 28x28 resolution, for a smoother skeleton
SUPERSAMPLE = 4  # the pen is stamped at 4x the canvas resolution, then averaged down


# ---------------------------------------------------------------------------------------
# 1. Skeleton
# ---------------------------------------------------------------------------------------


def zhang_suen(mask: np.ndarray) -> np.ndarray:
    """Thin a boolean image to 1-pixel-wide lines (Zhang & Suen, 1984), vectorised:
    each sub-iteration removes, all at once, the border pixels its rule allows."""
    img = np.zeros((mask.shape[0] + 2, mask.shape[1] + 2), np.uint8)
    img[1:-1, 1:-1] = mask
    while True:
        changed = False
        for step in (0, 1):
            p2, p3, p4 = img[:-2, 1:-1], img[:-2, 2:], img[1:-1, 2:]
            p5, p6, p7 = img[2:, 2:], img[2:, 1:-1], img[2:, :-2]
            p8, p9 = img[1:-1, :-2], img[:-2, :-2]
            ring = (p2, p3, p4, p5, p6, p7, p8, p9, p2)
            neighbours = p2 + p3 + p4 + p5 + p6 + p7 + p8 + p9
            transitions = sum((ring[i] == 0) & (ring[i + 1] == 1) for i in range(8))
            if step == 0:
                side = (p2 * p4 * p6 == 0) & (p4 * p6 * p8 == 0)
            else:
                side = (p2 * p4 * p8 == 0) & (p2 * p6 * p8 == 0)
            remove = (img[1:-1, 1:-1] == 1) & (neighbours >= 2) & (neighbours <= 6) & (transitions == 1) & side
            if remove.any():
                img[1:-1, 1:-1][remove] = 0
                changed = True
        if not changed:
            return img[1:-1, 1:-1].astype(bool)


def _skeleton(digit_28: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """An MNIST digit -> (points (N, 2) as (y, x) in 28x28 pixel units, edges (E, 2) of
    point indices joining 8-neighbours)."""
    digit = np.asarray(digit_28)
    if digit.ndim != 2 or digit.size == 0:
        raise ValueError(f"expected a 2-D digit image, got shape {digit.shape}")
    if digit.dtype != np.uint8:
        d = digit.astype(np.float32)
        digit = np.clip(d * (255.0 if d.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8)
    h, w = digit.shape
    big = Image.fromarray(digit).resize((w * UPSAMPLE, h * UPSAMPLE), Image.BILINEAR)
    mask = np.asarray(big) >= 128
    if not mask.any():
        raise ValueError("the digit image has no ink to draw")
    ys, xs = np.nonzero(mask)
    y0, x0 = ys.min(), xs.min()
    skel = zhang_suen(mask[y0 : ys.max() + 1, x0 : xs.max() + 1])
    index = np.full(skel.shape, -1, np.int64)
    sy, sx = np.nonzero(skel)
    index[sy, sx] = np.arange(len(sy))
    edges = []
    hh, ww = skel.shape
    for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):
        first = index[: hh - dy, max(0, -dx) : ww - max(0, dx)]
        second = index[dy:, max(0, dx) : ww - max(0, -dx)]
        both = (first >= 0) & (second >= 0)
        edges.append(np.stack([first[both], second[both]], axis=1))
    # Pixel centres, back in 28x28 units: upsampled pixel k covers [k, k+1) / UPSAMPLE.
    points = np.stack([sy + y0 + 0.5, sx + x0 + 0.5], axis=1) / UPSAMPLE
    return points, np.concatenate(edges)


def _jitter(points: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
    """A small random slant and rotation, like a different hand drawing the same digit."""
    if rng is None:
        return points
    angle = math.radians(rng.uniform(-6, 6))
    shear = rng.uniform(-0.12, 0.12)
    c, s = math.cos(angle), math.sin(angle)
    centre = points.mean(axis=0)
    y, x = (points - centre).T
    x = x + shear * y
    return np.stack([c * y - s * x, s * y + c * x], axis=1) + centre


# ---------------------------------------------------------------------------------------
# 2-3. Place and stamp the pen
# ---------------------------------------------------------------------------------------


def _extent(points: np.ndarray) -> tuple[float, float]:
    span = points.max(axis=0) - points.min(axis=0)
    return float(span[0]), float(span[1])


def _scale_for(points: np.ndarray, size: float, pen: float) -> float:
    """Canvas pixels per skeleton unit so the drawing (skeleton + pen) is `size` tall."""
    height, _ = _extent(points)
    return max(size - pen, 1.0) / max(height, 1.0 / UPSAMPLE)


def _render(
    points: np.ndarray, edges: np.ndarray, *, canvas: int, scale: float, center: tuple[float, float], pen: float
) -> np.ndarray:
    lo, hi = points.min(axis=0), points.max(axis=0)
    mid = (lo + hi) / 2
    # Canvas coordinates, continuous, pixel (i, j) covering [i, i+1) x [j, j+1).
    at = (points - mid) * scale + np.asarray(center, dtype=np.float64)
    # Stamp often enough that the pen's edge looks smooth: every quarter radius.
    radius = pen / 2
    step = max(0.5, radius / 4)
    a, b = at[edges[:, 0]], at[edges[:, 1]]
    lengths = np.hypot(*(b - a).T) if len(edges) else np.zeros(0)
    pieces = np.maximum(1, np.ceil(lengths / step).astype(np.int64))
    if len(edges):
        which = np.repeat(np.arange(len(edges)), pieces - 1)
        offsets = np.arange(len(which)) - np.repeat(np.cumsum(pieces - 1) - (pieces - 1), pieces - 1)
        t = ((offsets + 1) / np.repeat(pieces, pieces - 1))[:, None]
        between = a[which] + t * (b[which] - a[which])
        stamps = np.concatenate([at, between])
    else:
        stamps = at
    ss = SUPERSAMPLE
    img = Image.new("L", (canvas * ss, canvas * ss), 0)
    draw = ImageDraw.Draw(img)
    r = radius * ss
    for y, x in (stamps * ss).tolist():
        draw.ellipse((x - r, y - r, x + r, y + r), fill=255)
    alpha = np.asarray(img.reduce(ss))
    out = np.zeros((canvas, canvas, 4), np.uint8)
    out[:, :, 3] = alpha
    return out


def draw_digit(
    digit_28: np.ndarray,
    *,
    canvas: int = 280,
    size: float,
    center: tuple[float, float],
    pen: float,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Re-draw an MNIST digit (28x28 uint8, ink 255) as a pen drawing on a transparent
    canvas: (canvas, canvas, 4) uint8 RGBA, black ink, the strokes in the alpha channel
    (like streamlit-drawable-canvas). The drawing - skeleton plus the round pen of
    diameter `pen` - is `size` canvas pixels tall, its bounding box centred on `center`
    (y, x). With `rng`, a small random slant and rotation."""
    if canvas < 1 or size <= 0 or pen <= 0:
        raise ValueError("canvas, size and pen must be positive")
    points, edges = _skeleton(digit_28)
    points = _jitter(points, rng)
    return _render(points, edges, canvas=canvas, scale=_scale_for(points, size, pen), center=center, pen=pen)


# ---------------------------------------------------------------------------------------
# An evaluation set of drawings
# ---------------------------------------------------------------------------------------


def drawn_set(n: int, seed: int = 0, *, canvas: int = 280, source: str = "test") -> tuple[np.ndarray, np.ndarray]:
    """`n` MNIST digits (from the `source` split, "test" or "train") drawn at random sizes
    (25%-90% of the canvas height, narrower if a wide digit would not fit), random places
    (always fully inside the canvas) and random pen widths (6-30 px at 280, scaled with
    the canvas). Returns (images (n, canvas, canvas, 4) uint8 RGBA, labels (n,) uint8).
    The same seed gives the same set."""
    if source not in ("test", "train"):
        raise ValueError(f"source must be 'test' or 'train', not {source!r}")
    mnist = load_mnist()  # verified and cached once per process, like everywhere else
    x, y = getattr(mnist, f"x_{source}"), getattr(mnist, f"y_{source}")
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(x), size=n, replace=n > len(x))
    images = np.zeros((n, canvas, canvas, 4), np.uint8)
    unit = canvas / 280
    for k, i in enumerate(picks):
        points, edges = _skeleton(x[i])
        points = _jitter(points, rng)
        size = rng.uniform(0.25, 0.90) * canvas
        pen = rng.uniform(6, 30) * unit
        height, width = _extent(points)
        scale = _scale_for(points, size, pen)
        drawn_width = width * scale + pen
        if drawn_width > 0.9 * canvas:  # a wide digit: shrink it to fit
            scale *= (0.9 * canvas - pen) / (drawn_width - pen)
            drawn_width = width * scale + pen
        # Half the drawing plus a pixel or two for the anti-aliased edge from each side.
        half_h, half_w = (height * scale + pen) / 2 + 2, drawn_width / 2 + 2
        cy = rng.uniform(half_h, max(half_h, canvas - half_h))
        cx = rng.uniform(half_w, max(half_w, canvas - half_w))
        images[k] = _render(points, edges, canvas=canvas, scale=scale, center=(cy, cx), pen=pen)
    return images, y[picks].astype(np.uint8)
