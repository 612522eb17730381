"""An honest yardstick: drawn digits that owe nothing to MNIST's images, and non-digits.

``cnn.drawings`` re-strokes MNIST test digits, so its drawings come from the very writers
the model learnt from. This module draws digits from scratch, the way a hand does, with
the variety real users bring, and ships them as ``data/drawn-digits.npz`` (digits) and
``data/non-digits.npz`` (things that are not digits), regenerated exactly by

    python -m cnn.handwriting --out data          # writes both files
    python -m cnn.handwriting --out data --check  # regenerates and compares with them

How a digit is drawn
--------------------
1. A **template**: each digit has several hand-written forms (open and closed 4, 7 with
   and without a crossbar, 1 as a stick, with a flag, with a flag and a base, 9 with a
   straight or a curved tail, ...), each a list of pen strokes made of straight
   segments, smooth curves (centripetal Catmull-Rom through control points) and
   elliptical arcs, in a unit box (x right, y down).
2. A **hand**: a random slant, rotation and width (narrow to wide), a smooth random
   warp of the whole shape (no two hands make the same curves), and small offsets
   between strokes (a 4's upright rarely meets its bar exactly).
3. A **pen**: a round nib stamped along each stroke, its width varying with pressure
   and tapering at the ends for quick strokes, anti-aliased (drawn at 4x, averaged down).
4. A **place** on a 140x140 canvas (half the app's 280x280 canvas, to keep the file
   small): sizes from tiny (~15% of the side) to canvas-filling, anywhere on it.
5. A **file style**: how the picture reaches the app (see STYLES).

Sources (who or what made the digit) and styles (what file it arrives as) are crossed,
so every source appears in every style. Each image carries its source, style, template
variant, digit height and pen width, so accuracy can be broken down by any of them.

Only numpy and Pillow; fonts only Pillow's own built-in ones (Aileron and the bitmap
default), so a fresh machine regenerates the same arrays (FreeType's rasteriser version
could move the "typed" anti-aliasing by a grey level; every other source is pure numpy
and Pillow drawing). Every image has its own random stream seeded by (seed, set, index),
so any single image can be regenerated alone.
"""

from __future__ import annotations

import argparse
import io
import math
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

CANVAS = 140  # side of every stored image
SUPERSAMPLE = 4  # pens are stamped at 4x and averaged down (anti-aliasing)
SEED = 12  # the shipped files' seed (issue 12)
PER_CELL = 8  # images per (source, style, digit) in the shipped digit set
NON_DIGITS_PER_KIND = 40
DATA = Path(__file__).resolve().parent.parent / "data"
DIGITS_FILE, NON_DIGITS_FILE = "drawn-digits.npz", "non-digits.npz"

SOURCES = {
    "neat": "careful handwriting on a canvas: templates with mild slant and warp, a medium pen",
    "quick": "hurried handwriting: strong slant and warp, narrow or wide, strokes that miss "
    "each other, pressure changes and tapered ends",
    "mouse": "drawn with a mouse: the curves become jerky straight segments with a tremor",
    "hairline": "a hairline to thin pen (about 1-2.5 px on the 140 canvas) with pressure changes",
    "pencil": "a soft pencil: grey, grainy strokes of a thin to medium width, light pressure",
    "marker": "a very thick marker (15-22% of the digit's height)",
    "lowres": "a blocky low-resolution scan: the digit drawn 11-18 px tall (or typed in "
    "Pillow's 6x11 bitmap font), thresholded, then enlarged with hard pixel edges",
    "typed": "typed-looking: Pillow's built-in Aileron font, regular or bold, upright or oblique",
}
STYLES = {
    "rgba": "a transparent RGBA canvas (what streamlit-drawable-canvas returns): the strokes are in the alpha channel",
    "white-on-black": "a greyscale picture, light ink on a dark background (like MNIST)",
    "dark-on-white": "a greyscale picture, dark ink on a light background (a paint program, a scan)",
    "photo": "a photographed sheet of paper: uneven light, a soft shadow, sometimes ruled "
    "lines and a margin, ink that is not black, camera blur and sensor noise",
}
NON_DIGIT_KINDS = {
    "empty": "nothing drawn (a blank canvas, sheet or picture)",
    "full": "the whole picture inked, or nearly",
    "dot": "one to three dots",
    "block": "a filled rectangle or disc",
    "stripes": "parallel straight strokes",
    "scribble": "a random wandering scribble",
    "letter": "a letter that looks like no digit (A E F H K M N R W X Y, hand-drawn or typed)",
    "smiley": "a smiley face",
    "shape": "a triangle, a star, a cross-hatch or an arrow",
}


# ---------------------------------------------------------------------------------------
# 1. Templates
# ---------------------------------------------------------------------------------------


def _arc(cx: float, cy: float, rx: float, ry: float, a0: float, a1: float) -> np.ndarray:
    """Points on an ellipse from angle a0 to a1 (degrees; 0 = right, 90 = down)."""
    n = max(4, int(abs(a1 - a0) / 6) + 1)
    t = np.radians(np.linspace(a0, a1, n))
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], axis=1)


def _catmull_rom(points: np.ndarray, per_segment: int = 12) -> np.ndarray:
    """A smooth curve through `points` (centripetal Catmull-Rom: no loops or cusps)."""
    p = np.asarray(points, np.float64)
    if len(p) < 3:
        return p
    ext = np.concatenate([2 * p[:1] - p[1:2], p, 2 * p[-1:] - p[-2:-1]])
    out = [p[:1]]
    for i in range(1, len(ext) - 2):
        p0, p1, p2, p3 = ext[i - 1], ext[i], ext[i + 1], ext[i + 2]
        t0 = 0.0
        t1 = t0 + max(np.linalg.norm(p1 - p0), 1e-6) ** 0.5
        t2 = t1 + max(np.linalg.norm(p2 - p1), 1e-6) ** 0.5
        t3 = t2 + max(np.linalg.norm(p3 - p2), 1e-6) ** 0.5
        t = np.linspace(t1, t2, per_segment + 1)[1:, None]
        a1 = (t1 - t) / (t1 - t0) * p0 + (t - t0) / (t1 - t0) * p1
        a2 = (t2 - t) / (t2 - t1) * p1 + (t - t1) / (t2 - t1) * p2
        a3 = (t3 - t) / (t3 - t2) * p2 + (t - t2) / (t3 - t2) * p3
        b1 = (t2 - t) / (t2 - t0) * a1 + (t - t0) / (t2 - t0) * a2
        b2 = (t3 - t) / (t3 - t1) * a2 + (t - t1) / (t3 - t1) * a3
        out.append((t2 - t) / (t2 - t1) * b1 + (t - t1) / (t2 - t1) * b2)
    return np.concatenate(out)


def seg(*pts) -> np.ndarray:
    """Straight segments through the points (corners stay sharp)."""
    return np.asarray(pts, np.float64)


def curve(*pts) -> np.ndarray:
    """A smooth curve through the points."""
    return _catmull_rom(np.asarray(pts, np.float64))


def stroke(*pieces) -> np.ndarray:
    """One pen stroke: pieces joined end to start (each piece continues from the last)."""
    return np.concatenate([np.asarray(p, np.float64) for p in pieces])


def _eight(lower: float = 1.2) -> np.ndarray:
    """A one-stroke 8 (a lemniscate of Gerono, lower loop `lower` times wider), starting
    at the top right."""
    t = np.radians(np.linspace(-20, 345, 80))
    y = (1 - np.cos(t)) / 2
    x = 0.5 - 0.42 * np.sin(2 * t) * np.where(y > 0.5, lower, 1.0) / lower**0.5
    return np.stack([x, y], axis=1)


# Each digit's forms: name -> list of strokes (each an (n, 2) array of (x, y) in a unit
# box, y down). Corners are where pieces meet; curves and arcs are smooth.
TEMPLATES: dict[int, dict[str, list[np.ndarray]]] = {
    0: {
        "0-oval": [_arc(0.5, 0.5, 0.5, 0.5, -95, 272)],
        "0-narrow-lean": [
            curve(
                (0.62, 0.02),
                (0.25, 0.12),
                (0.04, 0.55),
                (0.3, 0.98),
                (0.75, 0.85),
                (0.96, 0.4),
                (0.78, 0.05),
                (0.5, 0.04),
            )
        ],
        "0-loop-top": [
            curve(
                (0.75, 0.15),
                (0.45, 0.02),
                (0.1, 0.3),
                (0.08, 0.75),
                (0.45, 1.0),
                (0.88, 0.75),
                (0.9, 0.3),
                (0.6, 0.02),
                (0.35, 0.12),
            )
        ],
    },
    1: {
        "1-stick": [seg((0.55, 0.0), (0.45, 1.0))],
        "1-flag": [seg((0.3, 0.24), (0.62, 0.0), (0.6, 1.0))],
        "1-flag-base": [seg((0.2, 0.25), (0.55, 0.0), (0.55, 1.0)), seg((0.15, 1.0), (0.95, 1.0))],
    },
    2: {
        "2-curve": [
            stroke(
                curve((0.05, 0.3), (0.2, 0.06), (0.55, 0.0), (0.9, 0.18), (0.85, 0.48), (0.45, 0.78), (0.0, 1.0)),
                seg((0.0, 1.0), (1.0, 0.98)),
            )
        ],
        "2-loop": [
            stroke(
                curve(
                    (0.05, 0.28),
                    (0.3, 0.02),
                    (0.7, 0.02),
                    (0.92, 0.28),
                    (0.7, 0.6),
                    (0.2, 0.88),
                    (0.1, 0.98),
                    (0.3, 1.0),
                    (0.3, 0.88),
                    (0.15, 0.92),
                    (0.5, 0.97),
                    (1.0, 0.94),
                )
            )
        ],
        "2-z": [
            stroke(
                curve((0.0, 0.25), (0.45, 0.0), (0.95, 0.15), (0.8, 0.45)), seg((0.8, 0.45), (0.05, 1.0), (0.95, 1.0))
            )
        ],
    },
    3: {
        "3-round": [
            stroke(
                curve((0.05, 0.15), (0.45, 0.0), (0.88, 0.13), (0.82, 0.38), (0.4, 0.48)),
                curve((0.4, 0.48), (0.9, 0.6), (0.92, 0.88), (0.5, 1.0), (0.0, 0.88)),
            )
        ],
        "3-flat-top": [
            stroke(
                seg((0.05, 0.0), (0.92, 0.0), (0.42, 0.4)),
                curve((0.42, 0.4), (0.9, 0.55), (0.95, 0.82), (0.5, 1.0), (0.02, 0.86)),
            )
        ],
    },
    4: {
        "4-closed": [seg((0.72, 0.0), (0.0, 0.68), (1.0, 0.68)), seg((0.72, 0.0), (0.72, 1.0))],
        "4-open": [seg((0.12, 0.0), (0.05, 0.6), (1.0, 0.6)), seg((0.75, 0.05), (0.75, 1.0))],
        "4-open-slant": [seg((0.3, 0.0), (0.0, 0.62), (1.0, 0.58)), seg((0.8, 0.0), (0.62, 1.0))],
    },
    5: {
        "5-flag": [
            stroke(
                seg((0.18, 0.0), (0.12, 0.45)),
                curve((0.12, 0.45), (0.5, 0.36), (0.92, 0.55), (0.88, 0.85), (0.45, 1.0), (0.02, 0.88)),
            ),
            seg((0.18, 0.0), (0.92, 0.02)),
        ],
        "5-one-stroke": [
            stroke(
                seg((0.95, 0.0), (0.2, 0.0), (0.12, 0.45)),
                curve((0.12, 0.45), (0.55, 0.36), (0.95, 0.6), (0.82, 0.9), (0.4, 1.0), (0.0, 0.85)),
            )
        ],
        "5-big-belly": [
            stroke(
                seg((0.3, 0.0), (0.2, 0.35)),
                curve((0.2, 0.35), (0.6, 0.3), (1.0, 0.6), (0.75, 0.95), (0.3, 0.98), (0.05, 0.8)),
            ),
            seg((0.3, 0.0), (0.85, 0.0)),
        ],
    },
    6: {
        "6-curved": [
            curve(
                (0.85, 0.04),
                (0.45, 0.05),
                (0.12, 0.4),
                (0.05, 0.72),
                (0.3, 0.98),
                (0.72, 0.96),
                (0.92, 0.7),
                (0.6, 0.47),
                (0.25, 0.55),
                (0.08, 0.72),
            )
        ],
        "6-straight": [stroke(seg((0.75, 0.0), (0.14, 0.62)), _arc(0.5, 0.72, 0.42, 0.28, 190, 540))],
        "6-small-loop": [
            stroke(curve((0.9, 0.0), (0.5, 0.15), (0.2, 0.5), (0.12, 0.8)), _arc(0.45, 0.8, 0.33, 0.2, 180, 520))
        ],
    },
    7: {
        "7-plain": [seg((0.0, 0.02), (1.0, 0.0), (0.35, 1.0))],
        "7-crossbar": [seg((0.0, 0.02), (1.0, 0.0), (0.35, 1.0)), seg((0.4, 0.52), (0.95, 0.5))],
        "7-hook": [stroke(seg((0.02, 0.2), (0.05, 0.0), (1.0, 0.02)), curve((1.0, 0.02), (0.6, 0.45), (0.45, 1.0)))],
        "7-euro": [
            stroke(seg((0.02, 0.18), (0.05, 0.0), (1.0, 0.02)), curve((1.0, 0.02), (0.6, 0.45), (0.42, 1.0))),
            seg((0.38, 0.5), (0.98, 0.47)),
        ],
    },
    8: {
        "8-one-stroke": [_eight(1.2)],
        "8-two-loops": [_arc(0.5, 0.24, 0.36, 0.24, 0, 365), _arc(0.5, 0.73, 0.46, 0.27, -90, 272)],
        "8-s-and-back": [
            stroke(
                curve(
                    (0.85, 0.12),
                    (0.5, 0.0),
                    (0.12, 0.15),
                    (0.3, 0.38),
                    (0.85, 0.65),
                    (0.72, 0.98),
                    (0.2, 0.95),
                    (0.15, 0.65),
                    (0.7, 0.38),
                    (0.88, 0.15),
                    (0.8, 0.07),
                )
            )
        ],
    },
    9: {
        "9-straight": [stroke(_arc(0.48, 0.28, 0.46, 0.28, 0, -360), seg((0.94, 0.28), (0.94, 1.0)))],
        "9-curved": [
            stroke(_arc(0.5, 0.28, 0.45, 0.28, 10, -350), curve((0.94, 0.33), (0.85, 0.7), (0.6, 0.98), (0.2, 0.98)))
        ],
        "9-lean-stem": [stroke(_arc(0.55, 0.27, 0.42, 0.27, 5, -355), seg((0.96, 0.31), (0.55, 1.0)))],
        "9-small-loop": [stroke(_arc(0.6, 0.2, 0.38, 0.2, 0, -360), seg((0.98, 0.2), (0.9, 1.0)))],
    },
}
VARIANTS = [name for forms in TEMPLATES.values() for name in forms]

# Letters that look like no digit, and shapes, as strokes in the same unit box.
LETTERS: dict[str, list[np.ndarray]] = {
    "A": [seg((0.0, 1.0), (0.5, 0.0), (1.0, 1.0)), seg((0.22, 0.6), (0.78, 0.6))],
    "E": [seg((0.9, 0.0), (0.05, 0.0), (0.05, 1.0), (0.9, 1.0)), seg((0.05, 0.5), (0.7, 0.5))],
    "F": [seg((0.9, 0.0), (0.05, 0.0), (0.05, 1.0)), seg((0.05, 0.48), (0.7, 0.48))],
    "H": [seg((0.05, 0.0), (0.05, 1.0)), seg((0.95, 0.0), (0.95, 1.0)), seg((0.05, 0.5), (0.95, 0.5))],
    "K": [seg((0.05, 0.0), (0.05, 1.0)), seg((0.9, 0.0), (0.08, 0.55), (0.95, 1.0))],
    "M": [seg((0.0, 1.0), (0.05, 0.0), (0.5, 0.6), (0.95, 0.0), (1.0, 1.0))],
    "N": [seg((0.05, 1.0), (0.05, 0.0), (0.95, 1.0), (0.95, 0.0))],
    "R": [
        stroke(
            seg((0.1, 1.0), (0.1, 0.0)),
            curve((0.1, 0.0), (0.75, 0.05), (0.85, 0.28), (0.6, 0.48), (0.1, 0.5)),
            seg((0.1, 0.5), (0.4, 0.5), (0.95, 1.0)),
        )
    ],
    "W": [seg((0.0, 0.0), (0.22, 1.0), (0.5, 0.35), (0.78, 1.0), (1.0, 0.0))],
    "X": [seg((0.0, 0.0), (1.0, 1.0)), seg((1.0, 0.0), (0.0, 1.0))],
    "Y": [seg((0.0, 0.0), (0.5, 0.5), (1.0, 0.0)), seg((0.5, 0.5), (0.5, 1.0))],
}
SHAPES: dict[str, list[np.ndarray]] = {
    "triangle": [seg((0.5, 0.0), (1.0, 0.9), (0.0, 0.9), (0.5, 0.0))],
    "star": [
        seg(
            *[
                (0.5 + 0.5 * math.sin(math.radians(a)), 0.5 - 0.5 * math.cos(math.radians(a)))
                for a in range(0, 721, 144)
            ]
        )
    ],
    "hatch": [
        seg((0.0, 0.3), (1.0, 0.3)),
        seg((0.0, 0.7), (1.0, 0.7)),
        seg((0.3, 0.0), (0.3, 1.0)),
        seg((0.7, 0.0), (0.7, 1.0)),
    ],
    "arrow": [seg((0.0, 0.5), (1.0, 0.5)), seg((0.65, 0.15), (1.0, 0.5), (0.65, 0.85))],
}


# ---------------------------------------------------------------------------------------
# 2. A hand: slant, width, warp, stroke offsets
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Hand:
    slant: tuple[float, float]  # shear range (x += shear * (0.5 - y)); positive leans right
    rotation: float  # largest rotation, degrees
    width: tuple[float, float]  # width / height of the drawing's box, relative to 0.62
    warp: float  # amplitude of the smooth random warp (unit box)
    offset: float  # largest shift of a stroke against the others
    pressure: float  # pen width varies by up to this share along a stroke
    taper: bool  # quick strokes start and end thinner
    tremor: float  # mouse: corner points every ~tremor units, jittered


HANDS = {
    "neat": Hand((-0.1, 0.25), 6, (0.8, 1.2), 0.035, 0.02, 0.1, False, 0.0),
    "quick": Hand((-0.15, 0.4), 12, (0.55, 1.6), 0.07, 0.05, 0.3, True, 0.0),
    "mouse": Hand((-0.1, 0.3), 8, (0.75, 1.3), 0.045, 0.03, 0.0, False, 0.09),
    "hairline": Hand((-0.1, 0.3), 8, (0.75, 1.3), 0.045, 0.03, 0.35, True, 0.0),
    "pencil": Hand((-0.1, 0.3), 8, (0.7, 1.35), 0.045, 0.03, 0.3, True, 0.0),
    "marker": Hand((-0.1, 0.25), 6, (0.85, 1.3), 0.035, 0.02, 0.08, False, 0.0),
    "lowres": Hand((-0.1, 0.25), 6, (0.8, 1.25), 0.035, 0.02, 0.0, False, 0.0),
}


def _warp(rng: np.random.Generator, amount: float):
    """A smooth random displacement field on the unit box (a few low sine waves)."""
    k = rng.uniform(0.8, 2.2, size=(2, 3)) * math.pi
    phase = rng.uniform(0, 2 * math.pi, size=(2, 3, 2))
    amp = rng.normal(0, amount / 2, size=(2, 3))

    def field(p: np.ndarray) -> np.ndarray:
        out = p.copy()
        for axis in range(2):
            for j in range(3):
                out[:, axis] += (
                    amp[axis, j]
                    * np.sin(k[axis, j] * p[:, 0] + phase[axis, j, 0])
                    * np.cos(k[axis, j] * p[:, 1] + phase[axis, j, 1])
                )
        return out

    return field


def _resample(path: np.ndarray, step: float) -> np.ndarray:
    """Points every `step` along a polyline (first and last kept)."""
    d = np.hypot(*np.diff(path, axis=0).T)
    s = np.concatenate([[0.0], np.cumsum(d)])
    if s[-1] <= 0:
        return path[:1]
    n = max(2, int(math.ceil(s[-1] / step)) + 1)
    t = np.linspace(0, s[-1], n)
    return np.stack([np.interp(t, s, path[:, 0]), np.interp(t, s, path[:, 1])], axis=1)


def handwrite(strokes: list[np.ndarray], hand: Hand, rng: np.random.Generator) -> list[np.ndarray]:
    """Template strokes -> the same strokes as one particular hand draws them (unit height,
    x centred on 0, y from 0 at the top)."""
    field = _warp(rng, hand.warp)
    shear = rng.uniform(*hand.slant)
    angle = math.radians(rng.uniform(-hand.rotation, hand.rotation))
    width = 0.62 * rng.uniform(*hand.width)
    c, s = math.cos(angle), math.sin(angle)
    out = []
    for st in strokes:
        p = field(_resample(st, 0.02))
        if hand.offset:
            p = p + rng.uniform(-hand.offset, hand.offset, size=2)
        if hand.tremor:  # a mouse: a few jerky straight moves with a wobble
            corners = _resample(p, hand.tremor * rng.uniform(0.8, 1.3))
            corners[1:-1] += rng.normal(0, hand.tremor * 0.25, size=corners[1:-1].shape)
            p = _resample(corners, 0.02)
        x = (p[:, 0] - 0.5) * width
        y = p[:, 1] - 0.5
        x = x + shear * (-y)
        out.append(np.stack([c * x - s * y, s * x + c * y], axis=1))
    lo = np.min([q.min(axis=0) for q in out], axis=0)
    hi = np.max([q.max(axis=0) for q in out], axis=0)
    h = max(hi[1] - lo[1], 1e-6)
    mid = (lo + hi) / 2
    return [(q - mid) / h + np.array([0.0, 0.5]) for q in out]


# ---------------------------------------------------------------------------------------
# 3-4. Pen and place
# ---------------------------------------------------------------------------------------


def _extent(strokes: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    lo = np.min([q.min(axis=0) for q in strokes], axis=0)
    hi = np.max([q.max(axis=0) for q in strokes], axis=0)
    return lo, hi


def render(
    strokes: list[np.ndarray],
    rng: np.random.Generator,
    *,
    canvas: int,
    height: float,
    pen: float,
    hand: Hand | None = None,
    centre: tuple[float, float] | None = None,
) -> np.ndarray:
    """Stamp a round pen of diameter `pen` (canvas px) along the strokes, scaled so the
    drawing (pen included) is `height` px tall (narrower if it would not fit), at a random
    place fully inside the canvas (or centred on `centre` (x, y)). Returns float32 ink
    (canvas, canvas) in [0, 1]."""
    lo, hi = _extent(strokes)
    span = np.maximum(hi - lo, 1e-6)
    scale = max(height - pen, 1.0) / span[1]
    limit = 0.94 * canvas
    if span[0] * scale + pen > limit:
        scale = max((limit - pen) / span[0], 1.0)
    size = span * scale + pen
    if centre is None:
        cx = rng.uniform(size[0] / 2 + 1, max(size[0] / 2 + 1, canvas - size[0] / 2 - 1))
        cy = rng.uniform(size[1] / 2 + 1, max(size[1] / 2 + 1, canvas - size[1] / 2 - 1))
    else:
        cx, cy = centre
    mid = (lo + hi) / 2
    ss = SUPERSAMPLE
    img = Image.new("L", (canvas * ss, canvas * ss), 0)
    draw = ImageDraw.Draw(img)
    pressure = hand.pressure if hand else 0.0
    for st in strokes:
        p = (st - mid) * scale + np.array([cx, cy])
        p = _resample(p, max(0.25, pen / 8))
        n = len(p)
        u = np.linspace(0, 1, n)
        w = np.full(n, pen / 2)
        if pressure:
            f, ph = rng.uniform(0.5, 2.0), rng.uniform(0, 2 * math.pi)
            w = w * (1 + pressure * np.sin(2 * math.pi * f * u + ph))
        if hand is not None and hand.taper:
            ends = np.minimum(u, 1 - u) * max(1.0, np.hypot(*(p[-1] - p[0])) / max(pen, 1))
            w = w * (0.55 + 0.45 * np.clip(ends * 4, 0, 1))
        w = np.maximum(w, 0.45)
        for (x, y), r in zip((p * ss).tolist(), (w * ss).tolist()):
            draw.ellipse((x - r, y - r, x + r, y + r), fill=255)
    return np.asarray(img.reduce(ss), np.float32) / 255.0


def _height(rng: np.random.Generator, canvas: int) -> float:
    """A digit height: a third tiny-to-small, a third medium, a third large."""
    band = rng.integers(3)
    lo, hi = ((0.15, 0.32), (0.32, 0.62), (0.62, 0.95))[band]
    return float(rng.uniform(lo, hi) * canvas)


def _hand_digit(strokes, source: str, rng: np.random.Generator, canvas: int = CANVAS):
    """Ink for a template drawn by the hand of `source`, with (height, pen) in px."""
    hand = HANDS[source]
    drawn = handwrite(strokes, hand, rng)
    height = _height(rng, canvas)
    if source == "hairline":
        pen = rng.uniform(0.9, 2.5)
    elif source == "marker":
        pen = max(5.0, rng.uniform(0.15, 0.22) * height)
    elif source == "pencil":
        pen = max(1.5, rng.uniform(0.03, 0.08) * height)
    else:
        pen = max(1.6, rng.uniform(0.05, 0.14) * height)
    ink = render(drawn, rng, canvas=canvas, height=height, pen=pen, hand=hand)
    if source == "pencil":  # graphite: grey, and grainy where the paper's tooth shows
        grain = 1.0 - rng.uniform(0.3, 0.6) * rng.random(ink.shape) ** 2
        ink = ink * grain * rng.uniform(0.5, 0.8)
    return ink, height, pen


def _lowres(strokes, glyph: str | None, rng: np.random.Generator, canvas: int = CANVAS):
    """A blocky scan: drawn (or typed in the bitmap font) 9-18 px tall on a small grid,
    thresholded, then enlarged with nearest-neighbour to the canvas."""
    factor = int(rng.integers(5, 9))  # canvas px per scan pixel
    small = -(-canvas // factor)
    if glyph is not None:
        font = ImageFont.load_default_imagefont()
        img = Image.new("L", (small, small), 0)
        left, top, right, bottom = font.getbbox(glyph)
        x = rng.integers(0, max(1, small - (right - left))) - left
        y = rng.integers(0, max(1, small - (bottom - top))) - top
        ImageDraw.Draw(img).text((int(x), int(y)), glyph, font=font, fill=255)
        ink = np.asarray(img, np.float32) / 255
        height, pen = float((bottom - top) * factor), float(factor)
    else:
        hand = HANDS["lowres"]
        drawn = handwrite(strokes, hand, rng)
        h = rng.uniform(11, min(18, small - 2))
        pen = min(rng.uniform(1.1, 2.0), 0.13 * h)
        ink = render(drawn, rng, canvas=small, height=h, pen=pen, hand=hand)
        height, pen = h * factor, pen * factor
        cut = rng.uniform(0.35, 0.55)
        ink = (ink > cut).astype(np.float32) if rng.random() < 0.6 else np.round(ink * 3) / 3
    big = np.repeat(np.repeat(ink, factor, axis=0), factor, axis=1)[:canvas, :canvas]
    return big, height, pen


@lru_cache(maxsize=64)
def _font_glyph(ch: str, bold: int) -> np.ndarray:
    """A character in Pillow's built-in Aileron at 160 px, cropped to its ink."""
    font = ImageFont.load_default(size=160)
    img = Image.new("L", (320, 320), 0)
    ImageDraw.Draw(img).text((60, 40), ch, font=font, fill=255, stroke_width=bold, stroke_fill=255)
    a = np.asarray(img)
    ys, xs = np.nonzero(a > 0)
    return a[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]


def _typed(ch: str, rng: np.random.Generator, canvas: int = CANVAS):
    """A typed-looking character: Aileron, regular or bold, upright or oblique, placed at
    a random size and place."""
    bold = int(rng.choice([0, 0, 4, 9]))
    glyph = Image.fromarray(_font_glyph(ch, bold))
    shear = float(rng.choice([0.0, 0.0, rng.uniform(0.12, 0.25)]))
    gw, gh = glyph.size
    extra = int(math.ceil(shear * gh))
    glyph = glyph.transform((gw + extra, gh), Image.AFFINE, (1, shear, -extra, 0, 1, 0), Image.BICUBIC)
    height = _height(rng, canvas)
    stretch = rng.uniform(0.85, 1.15)
    width = min(glyph.size[0] / glyph.size[1] * height * stretch, 0.94 * canvas)
    small = glyph.resize((max(1, round(width)), max(1, round(height))), Image.LANCZOS)
    out = np.zeros((canvas, canvas), np.float32)
    x = int(rng.integers(1, max(2, canvas - small.size[0])))
    y = int(rng.integers(1, max(2, canvas - small.size[1])))
    a = np.asarray(small, np.float32) / 255
    out[y : y + a.shape[0], x : x + a.shape[1]] = a[: canvas - y, : canvas - x]
    stroke_px = height * (0.11 + bold / 160)
    return np.clip(out, 0, 1), height, stroke_px


# ---------------------------------------------------------------------------------------
# 5. File styles
# ---------------------------------------------------------------------------------------


def _blur(a: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur (edges mirrored), in float64 numpy."""
    r = max(1, int(math.ceil(3 * sigma)))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()
    p = np.pad(a.astype(np.float64), r, mode="reflect")
    p = sum(k[i] * p[i : i + a.shape[0]] for i in range(2 * r + 1))
    p = sum(k[i] * p[:, i : i + a.shape[1]] for i in range(2 * r + 1))
    return p


def sensor_noise(key: int, shape: tuple[int, int]) -> np.ndarray:
    """Standard-normal-like noise (float64), bit-exact on any machine: splitmix64 of the
    pixel index and `key`, four 16-bit uniforms summed (Irwin-Hall), scaled to unit sigma.
    Photos store their noise as (key, sigma) instead of pixels: noise does not compress,
    and a noisy 140x140 photo costs 11 kB as a PNG against ~1.5 kB without."""
    n = shape[0] * shape[1]
    start = ((key + 1) * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF  # Python ints: no overflow
    z = np.arange(n, dtype=np.uint64) + np.uint64(start)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    u = sum(((z >> np.uint64(16 * k)) & np.uint64(0xFFFF)).astype(np.float64) for k in range(4)) / 65536.0
    return ((u - 2.0) * 3.0**0.5).reshape(shape)


def add_noise(base: np.ndarray, sigma: float, key: int) -> np.ndarray:
    """A stored noise-free plane plus its sensor noise (`sigma` grey levels) -> the picture."""
    if not sigma:
        return base
    noisy = base.astype(np.float64) + np.round(sigma * sensor_noise(key, base.shape))
    return np.clip(noisy, 0, 255).astype(np.uint8)


def to_style(ink: np.ndarray, style: str, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """Ink (float [0, 1], ink = 1) -> (the uint8 plane of a file in `style` before sensor
    noise, the noise's sigma in grey levels): rgba: the alpha channel (the colour is added
    by the loader); white-on-black and dark-on-white: the grey picture; photo: the grey
    photograph (noise 1.5-5 grey levels)."""
    h, w = ink.shape
    sigma = 0.0
    if style == "rgba":
        plane = ink * 255
    elif style == "white-on-black":
        bg, fg = rng.uniform(0, 25), rng.uniform(200, 255)
        plane = bg + (fg - bg) * ink
    elif style == "dark-on-white":
        bg, fg = rng.uniform(225, 255), rng.uniform(0, 60)
        plane = bg + (fg - bg) * ink
    elif style == "photo":
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32) / max(h, w)
        # Light: paper brightness with a tilt and a vignette.
        paper = rng.uniform(0.72, 0.92)
        gx, gy = rng.uniform(-0.12, 0.12, size=2)
        light = paper + gx * (xx - 0.5) + gy * (yy - 0.5)
        light -= rng.uniform(0.0, 0.12) * ((xx - 0.5) ** 2 + (yy - 0.5) ** 2) * 2
        # A soft shadow (a hand or the phone) across one side.
        if rng.random() < 0.6:
            a = rng.uniform(0, 2 * math.pi)
            d = (xx - 0.5) * math.cos(a) + (yy - 0.5) * math.sin(a) - rng.uniform(0.15, 0.45)
            soft = rng.uniform(0.05, 0.15)
            light *= 1 - rng.uniform(0.08, 0.2) * np.clip(0.5 + d / (2 * soft), 0, 1)
        page = np.ones_like(light)
        # Ruled lines (and sometimes a margin): faint blue-grey, much lighter than ink.
        if rng.random() < 0.5:
            gap = rng.uniform(0.16, 0.26) * h
            first = rng.uniform(0, gap)
            line_w = rng.uniform(0.8, 1.6)
            tilt = math.radians(rng.uniform(-6, 6))
            rows = yy * max(h, w) * math.cos(tilt) + xx * max(h, w) * math.sin(tilt)
            dist = np.abs(((rows - first) % gap + gap / 2) % gap - gap / 2)
            page -= rng.uniform(0.06, 0.12) * np.clip(line_w / 2 + 0.5 - dist, 0, 1)
            if rng.random() < 0.4:
                col = rng.uniform(0.05, 0.2) * w
                page -= rng.uniform(0.05, 0.1) * np.clip(1.2 - np.abs(np.arange(w)[None, :] - col), 0, 1)
        darkness = rng.uniform(0.55, 0.85)  # pen ink absorbs this share of the light
        picture = light * page * (1 - darkness * ink)
        picture = _blur(picture, rng.uniform(0.3, 1.1))
        sigma = float(np.float32(rng.uniform(1.5, 5.0)))
        plane = picture * 255
    else:
        raise ValueError(f"unknown style {style!r}")
    return np.clip(np.round(plane), 0, 255).astype(np.uint8), sigma


def as_file(plane: np.ndarray, style: str) -> np.ndarray:
    """A stored plane -> the image array the app would receive: RGBA for the canvas style
    (black strokes, the plane as alpha), the greyscale picture otherwise."""
    if style == "rgba":
        out = np.zeros(plane.shape + (4,), np.uint8)
        out[..., 3] = plane
        return out
    return plane


# ---------------------------------------------------------------------------------------
# The sets
# ---------------------------------------------------------------------------------------


@dataclass
class DrawnSet:
    """Images and their tags. `planes` are the stored (n, 140, 140) uint8 planes; `image(i)`
    or `files()` give them as the app receives them (RGBA for the canvas style)."""

    base: np.ndarray  # (n, 140, 140) uint8 planes before sensor noise (as stored)
    labels: np.ndarray  # (n,) uint8 digit, or -1 for non-digits (int16)
    source: np.ndarray  # (n,) str: SOURCES key (digits) or NON_DIGIT_KINDS key
    style: np.ndarray  # (n,) str: STYLES key
    variant: np.ndarray  # (n,) str: template form, letter or shape drawn
    height: np.ndarray  # (n,) float32 digit height, canvas px
    pen: np.ndarray  # (n,) float32 pen width, canvas px
    noise: np.ndarray  # (n,) float32 sensor noise sigma, grey levels (photos only)
    noise_key: np.ndarray  # (n,) uint64 the noise's key (see sensor_noise)

    @property
    def planes(self) -> np.ndarray:
        """(n, 140, 140) uint8: the pictures, sensor noise included."""
        if getattr(self, "_planes", None) is None:
            self._planes = (
                np.stack([add_noise(b, float(s), int(k)) for b, s, k in zip(self.base, self.noise, self.noise_key)])
                if len(self.base)
                else self.base
            )
        return self._planes

    def __len__(self) -> int:
        return len(self.labels)

    def image(self, i: int) -> np.ndarray:
        return as_file(self.planes[i], str(self.style[i]))

    def files(self):
        for i in range(len(self)):
            yield self.image(i)

    @property
    def kind(self) -> np.ndarray:
        """For non-digits: what each image is (same as `source`)."""
        return self.source


def _digit_plan(per_cell: int) -> list[tuple[str, str, int]]:
    return [(src, sty, d) for src in SOURCES for sty in STYLES for d in range(10) for _ in range(per_cell)]


def make_digit(seed: int, index: int, source: str, style: str, digit: int):
    """(plane before noise, noise sigma, variant, height, pen) of one drawn digit; the same
    arguments, the same image."""
    rng = np.random.default_rng([seed, 1, index])
    forms = TEMPLATES[digit]
    if source == "typed":
        variant = "typed"
        ink, height, pen = _typed(str(digit), rng)
    elif source == "lowres" and rng.random() < 0.3:
        variant = "bitmap-font"
        ink, height, pen = _lowres(None, str(digit), rng)
    else:
        variant = list(forms)[int(rng.integers(len(forms)))]
        if source == "lowres":
            ink, height, pen = _lowres(forms[variant], None, rng)
        else:
            ink, height, pen = _hand_digit(forms[variant], source, rng)
    return (*to_style(ink, style, rng), variant, height, pen)


def generate_digits(seed: int = SEED, per_cell: int = PER_CELL, indices=None) -> DrawnSet:
    """The drawn-digit set: `per_cell` images of every (source, style, digit). With
    `indices`, only those images (for checks)."""
    plan = _digit_plan(per_cell)
    chosen = range(len(plan)) if indices is None else list(indices)
    rows = [make_digit(seed, i, *plan[i]) for i in chosen]
    return _assemble(
        rows,
        [noise_key(seed, 1, i) for i in chosen],
        labels=[plan[i][2] for i in chosen],
        source=[plan[i][0] for i in chosen],
        style=[plan[i][1] for i in chosen],
    )


def noise_key(seed: int, which: int, index: int) -> int:
    return (seed << 32) | (which << 24) | index


def _assemble(rows, keys, *, labels, source, style) -> DrawnSet:
    return DrawnSet(
        base=np.stack([r[0] for r in rows]) if rows else np.zeros((0, CANVAS, CANVAS), np.uint8),
        labels=np.array(labels, np.int16),
        source=np.array(source, dtype=str),
        style=np.array(style, dtype=str),
        variant=np.array([r[2] for r in rows], dtype=str),
        height=np.array([r[3] for r in rows], np.float32),
        pen=np.array([r[4] for r in rows], np.float32),
        noise=np.array([r[1] for r in rows], np.float32),
        noise_key=np.array(keys, np.uint64),
    )


def _scribble(rng: np.random.Generator) -> list[np.ndarray]:
    """A random walk of 10-18 turns, stretched to fill a square (never a thin line)."""
    pts = np.cumsum(rng.normal(0, 0.35, size=(int(rng.integers(10, 19)), 2)), axis=0)
    pts = (pts - pts.min(axis=0)) / np.maximum(pts.max(axis=0) - pts.min(axis=0), 1e-6)
    return [curve(*pts.tolist())]


def make_non_digit(seed: int, index: int, kind: str, style: str):
    """(plane before noise, noise sigma, variant, height, pen) of one non-digit."""
    rng = np.random.default_rng([seed, 2, index])
    c = CANVAS
    ink = np.zeros((c, c), np.float32)
    variant, height, pen = kind, 0.0, 0.0
    hand = HANDS["neat"]
    if kind == "full":
        ink[:] = 1.0
        if rng.random() < 0.5:  # nearly full: a scrubbed-over canvas with a few gaps
            holes = render(_scribble(rng), rng, canvas=c, height=c * 0.5, pen=c * 0.05)
            ink = 1.0 - holes
        height = pen = float(c)
    elif kind == "dot":
        n = int(rng.integers(1, 4))
        pen = float(rng.uniform(4, 22))
        for _ in range(n):
            p = np.array([[0.0, 0.0], [rng.uniform(-0.01, 0.01), 0.01]])
            ink = np.maximum(ink, render([p], rng, canvas=c, height=pen + 0.5, pen=pen))
        height = pen
    elif kind == "block":
        height = float(rng.uniform(0.2, 0.8) * c)
        width = float(rng.uniform(0.2, 0.8) * c)
        x0, y0 = rng.uniform(0, c - width), rng.uniform(0, c - height)
        img = Image.new("L", (c * 4, c * 4), 0)
        box = (x0 * 4, y0 * 4, (x0 + width) * 4, (y0 + height) * 4)
        variant = "disc" if rng.random() < 0.4 else "rectangle"
        (ImageDraw.Draw(img).ellipse if variant == "disc" else ImageDraw.Draw(img).rectangle)(box, fill=255)
        ink = np.asarray(img.reduce(4), np.float32) / 255
        pen = min(height, width)
    elif kind == "stripes":
        n = int(rng.integers(3, 7))
        vertical = rng.random() < 0.5
        strokes = [seg((0.0, k / (n - 1)), (1.0, k / (n - 1))) for k in range(n)]
        if vertical:
            strokes = [s[:, ::-1] for s in strokes]
        variant = "vertical" if vertical else "horizontal"
        height = float(rng.uniform(0.4, 0.9) * c)
        pen = float(rng.uniform(0.03, 0.08) * height)
        ink = render(handwrite(strokes, hand, rng), rng, canvas=c, height=height, pen=pen, hand=hand)
    elif kind == "scribble":
        height = float(rng.uniform(0.3, 0.9) * c)
        pen = float(rng.uniform(0.03, 0.1) * height)
        ink = render(_scribble(rng), rng, canvas=c, height=height, pen=pen, hand=HANDS["quick"])
    elif kind == "letter":
        variant = str(rng.choice(list(LETTERS)))
        if rng.random() < 0.3:
            ink, height, pen = _typed(variant, rng)
        else:
            ink, height, pen = _hand_digit(LETTERS[variant], "neat", rng)
    elif kind == "smiley":
        strokes = [
            _arc(0.5, 0.5, 0.5, 0.5, 0, 362),
            seg((0.33, 0.33), (0.33, 0.38)),
            seg((0.67, 0.33), (0.67, 0.38)),
            _arc(0.5, 0.5, 0.28, 0.25, 25, 155),
        ]
        height = float(rng.uniform(0.3, 0.9) * c)
        pen = float(rng.uniform(0.03, 0.08) * height)
        ink = render(handwrite(strokes, hand, rng), rng, canvas=c, height=height, pen=pen, hand=hand)
    elif kind == "shape":
        variant = str(rng.choice(list(SHAPES)))
        height = float(rng.uniform(0.3, 0.9) * c)
        pen = float(rng.uniform(0.03, 0.1) * height)
        ink = render(handwrite(SHAPES[variant], hand, rng), rng, canvas=c, height=height, pen=pen, hand=hand)
    elif kind != "empty":
        raise ValueError(f"unknown non-digit kind {kind!r}")
    return (*to_style(ink, style, rng), variant, height, pen)


def _non_digit_plan(per_kind: int) -> list[tuple[str, str]]:
    styles = list(STYLES)
    return [(kind, styles[k % len(styles)]) for kind in NON_DIGIT_KINDS for k in range(per_kind)]


def generate_non_digits(seed: int = SEED, per_kind: int = NON_DIGITS_PER_KIND, indices=None) -> DrawnSet:
    """The non-digit set: `per_kind` images of every kind, the file styles in turn."""
    plan = _non_digit_plan(per_kind)
    chosen = range(len(plan)) if indices is None else list(indices)
    rows = [make_non_digit(seed, i, *plan[i]) for i in chosen]
    return _assemble(
        rows,
        [noise_key(seed, 2, i) for i in chosen],
        labels=[-1] * len(rows),
        source=[plan[i][0] for i in chosen],
        style=[plan[i][1] for i in chosen],
    )


# ---------------------------------------------------------------------------------------
# Files: every plane as a lossless PNG (its filters make paper gradients cheap), in one npz
# ---------------------------------------------------------------------------------------


def _encode(planes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    blobs = []
    for p in planes:
        buf = io.BytesIO()
        Image.fromarray(p).save(buf, format="PNG", optimize=True)
        blobs.append(np.frombuffer(buf.getvalue(), np.uint8))
    offsets = np.concatenate([[0], np.cumsum([len(b) for b in blobs])]).astype(np.int64)
    return (np.concatenate(blobs) if blobs else np.zeros(0, np.uint8)), offsets


def _decode(png: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    raw = png.tobytes()
    return np.stack(
        [np.asarray(Image.open(io.BytesIO(raw[a:b]))) for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist())]
    )


def save(path: Path, s: DrawnSet, seed: int) -> None:
    png, offsets = _encode(s.base)
    with open(path, "wb") as f:  # np.savez on a file object: no timestamps to vary
        np.savez(
            f,
            png=png,
            offsets=offsets,
            labels=s.labels,
            source=s.source,
            style=s.style,
            variant=s.variant,
            height=s.height,
            pen=s.pen,
            noise=s.noise,
            noise_key=s.noise_key,
            seed=np.int64(seed),
        )


def load(path: Path) -> DrawnSet:
    with np.load(path, allow_pickle=False) as z:
        return DrawnSet(
            base=_decode(z["png"], z["offsets"]),
            labels=z["labels"],
            source=z["source"],
            style=z["style"],
            variant=z["variant"],
            height=z["height"],
            pen=z["pen"],
            noise=z["noise"],
            noise_key=z["noise_key"],
        )


def load_drawn_set(path: str | Path | None = None) -> DrawnSet:
    """The shipped drawn-digit set (data/drawn-digits.npz)."""
    return load(Path(path) if path else DATA / DIGITS_FILE)


def load_non_digits(path: str | Path | None = None) -> DrawnSet:
    """The shipped non-digit set (data/non-digits.npz); `labels` are -1, `kind` says what."""
    return load(Path(path) if path else DATA / NON_DIGITS_FILE)


def _same(a: DrawnSet, b: DrawnSet) -> list[str]:
    problems = []
    for name in ("labels", "source", "style", "variant", "height", "pen", "noise", "noise_key"):
        if not np.array_equal(getattr(a, name), getattr(b, name)):
            problems.append(name)
    if a.planes.shape != b.planes.shape:
        problems.append(f"planes shape {a.planes.shape} != {b.planes.shape}")
    else:
        diff = np.abs(a.planes.astype(np.int16) - b.planes)
        bad = np.flatnonzero(diff.reshape(len(diff), -1).max(axis=1) > 0)
        if len(bad):
            problems.append(
                f"{len(bad)} images differ (largest difference {int(diff.max())} grey levels; "
                f"sources {sorted(set(a.source[bad].tolist()))})"
            )
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Write (or --check) the drawn-digit and non-digit sets.")
    parser.add_argument("--out", default=str(DATA), help="folder for the two .npz files")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--check", action="store_true", help="regenerate and compare with the files in --out")
    args = parser.parse_args(argv)
    out = Path(args.out)
    digits, non_digits = generate_digits(args.seed), generate_non_digits(args.seed)
    failed = False
    for name, s in ((DIGITS_FILE, digits), (NON_DIGITS_FILE, non_digits)):
        path = out / name
        if args.check:
            problems = _same(load(path), s)
            print(f"{path}: {'identical arrays' if not problems else 'DIFFERS: ' + '; '.join(problems)}")
            failed |= bool(problems)
        else:
            out.mkdir(parents=True, exist_ok=True)
            save(path, s, args.seed)
            print(f"{path}: {len(s)} images, {path.stat().st_size / 1e6:.2f} MB")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
