"""Pictures that are not digits, drawn here, to teach and tune the refusal.

``non_digits(n, seed)``: letters that look like no digit (typed in the system's fonts,
never Pillow's built-in Aileron), scribbles (jagged and smooth), outlines (triangles,
squares, stars, hearts, spirals, waves, any three or four corners), arrows, crosses (#, +,
asterisks), faces, filled blobs, dots, stripes and grids, full and empty pictures, on a
transparent canvas or as dark ink on white. ``outlier_images()``: a fixed bank of them
prepared the MNIST way, which training mixes in with a "no digit" target
(``TrainConfig.outliers``: the model learns to spread its probability over every digit
for them, so its confidence says "not a digit").

This is its own code with its own seeds: the yardstick (``cnn.handwriting``'s sets) is
never trained or tuned on. Training uses seed 0; benchmarks/refusal_data.py tunes the
refusal's thresholds on other seeds.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

SIDE = 200
LETTERS = "ACEFHKMNPRTUVWXYaefhkmnrtuvwy"  # none of them reads as a digit
KINDS = (
    "letter",
    "scribble",
    "outline",
    "arrow",
    "cross",
    "face",
    "blob",
    "dots",
    "stripes",
    "grid",
    "full",
    "empty",
)


def _fonts() -> list[str]:
    from cnn.fonts import font_files

    return [str(p) for p in font_files()]


def _canvas(ink: Image.Image, rng: np.random.Generator, canvas_only: bool = False) -> np.ndarray:
    """Ink (L image, 255 = ink) -> a transparent RGBA canvas or a dark-on-white grey picture."""
    a = np.asarray(ink, np.uint8)
    if canvas_only or rng.random() < 0.6:
        out = np.zeros(a.shape + (4,), np.uint8)
        out[..., 3] = a
        return out
    paper = rng.uniform(215, 255)
    pen = rng.uniform(0, 70)
    grey = paper + (pen - paper) * a / 255.0 + rng.normal(0, 2, a.shape)
    return np.clip(grey, 0, 255).astype(np.uint8)


def _pen(rng: np.random.Generator) -> int:
    return int(rng.integers(3, 16))


def _points(rng: np.random.Generator, n: int, margin: float = 20) -> list[tuple[float, float]]:
    return [tuple(rng.uniform(margin, SIDE - margin, 2)) for _ in range(n)]


def _smooth(p: np.ndarray, per_segment: int = 10) -> np.ndarray:
    """A curve through the points ``p`` (n, 2): quadratic B-spline, ends kept."""
    if len(p) < 3:
        return p
    mid = (p[:-1] + p[1:]) / 2
    ctrl = np.vstack([p[:1], mid, p[-1:]])
    t = np.linspace(0, 1, per_segment, endpoint=False)[:, None]
    out = [(1 - t) ** 2 * ctrl[i] + 2 * (1 - t) * t * p[i] + t**2 * ctrl[i + 1] for i in range(1, len(p) - 1)]
    return np.vstack([p[:1], *out, p[-1:]])


def non_digit(kind: str, rng: np.random.Generator, fonts: list[str], canvas_only: bool = False) -> np.ndarray:
    img = Image.new("L", (SIDE, SIDE), 0)
    d = ImageDraw.Draw(img)
    w = _pen(rng)
    c, r = SIDE / 2 + rng.uniform(-30, 30, 2), rng.uniform(30, 85)
    if kind == "letter" and fonts:
        font = ImageFont.truetype(fonts[int(rng.integers(len(fonts)))], int(rng.integers(60, 170)))
        ch = LETTERS[int(rng.integers(len(LETTERS)))]
        d.text((SIDE / 2, SIDE / 2), ch, font=font, fill=255, anchor="mm", stroke_width=int(rng.integers(0, 4)))
        img = img.rotate(rng.uniform(-15, 15), resample=Image.BILINEAR)
    elif kind == "scribble":
        p = np.cumsum(rng.normal(0, 25, (int(rng.integers(6, 25)), 2)), axis=0)
        p = (p - p.min(0)) / np.maximum(np.ptp(p, 0), 1) * rng.uniform(60, 170) + rng.uniform(10, 40)
        if rng.random() < 0.5:  # a smooth hand's scribble: curves through the turns, not corners
            p = _smooth(p)
        d.line([tuple(q) for q in p], fill=255, width=w, joint="curve")
    elif kind == "arrow":
        # A shaft (straight or bent) with a head at one end or both, pointing any way.
        a = rng.uniform(0, 2 * math.pi)
        tip = c + r * np.array([math.cos(a), math.sin(a)])
        tail = c - r * np.array([math.cos(a), math.sin(a)])
        bend = rng.normal(0, 0.25) * r * np.array([-math.sin(a), math.cos(a)])
        d.line([tuple(q) for q in _smooth(np.array([tail, c + bend, tip]))], fill=255, width=w, joint="curve")
        ends = [(tip, a)] + ([(tail, a + math.pi)] if rng.random() < 0.2 else [])
        for end, towards in ends:
            size, spread = r * rng.uniform(0.35, 0.6), rng.uniform(0.35, 0.8)
            wings = [end - size * np.array([math.cos(towards + s), math.sin(towards + s)]) for s in (spread, -spread)]
            if rng.random() < 0.3:  # a filled head
                d.polygon([tuple(wings[0]), tuple(end), tuple(wings[1])], fill=255)
            else:
                d.line([tuple(wings[0]), tuple(end), tuple(wings[1])], fill=255, width=w, joint="curve")
    elif kind == "cross":
        # Lines through one another: # (two each way), +, x, an asterisk.
        shape = rng.choice(["hash", "plus", "asterisk"])
        a0 = rng.uniform(0, math.pi) if shape != "hash" else rng.uniform(-0.3, 0.3)
        if shape == "hash":
            for k in (-1, 1):
                for turn in (0.0, math.pi / 2 + rng.uniform(-0.3, 0.3)):
                    u = np.array([math.cos(a0 + turn), math.sin(a0 + turn)])
                    off = k * r * rng.uniform(0.2, 0.45) * np.array([-u[1], u[0]])
                    d.line([tuple(c + off - r * u), tuple(c + off + r * u)], fill=255, width=w)
        else:
            n = 2 if shape == "plus" else int(rng.integers(3, 5))
            for k in range(n):
                t = a0 + math.pi * k / n + rng.uniform(-0.15, 0.15)
                u = r * rng.uniform(0.7, 1.0) * np.array([math.cos(t), math.sin(t)])
                d.line([tuple(c - u), tuple(c + u)], fill=255, width=w)
    elif kind == "outline":
        shape = rng.choice(["triangle", "square", "star", "heart", "spiral", "wave", "polygon"])  # no circle: a 0
        if shape == "polygon":  # three or four corners anywhere: long and thin or squat, tilted
            corners = _points(rng, int(rng.integers(3, 5)))
            d.line(corners + corners[:1], fill=255, width=w, joint="curve")
        elif shape in ("triangle", "square", "star"):
            k = {"triangle": 3, "square": 4, "star": 5}[shape]
            step = 2 if shape == "star" else 1
            a0 = rng.uniform(0, 2 * math.pi)
            pts = [
                (
                    c[0] + r * math.cos(a0 + 2 * math.pi * i * step / k),
                    c[1] + r * math.sin(a0 + 2 * math.pi * i * step / k),
                )
                for i in range(k + 1)
            ]
            d.line(pts, fill=255, width=w, joint="curve")
        elif shape == "heart":
            t = np.linspace(0, 2 * math.pi, 80)
            x = 16 * np.sin(t) ** 3
            y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
            d.line(list(zip(c[0] + x * r / 17, c[1] + y * r / 17)), fill=255, width=w)
        elif shape == "spiral":
            t = np.linspace(0, rng.uniform(3, 6) * math.pi, 120)
            d.line(list(zip(c[0] + r * t / t[-1] * np.cos(t), c[1] + r * t / t[-1] * np.sin(t))), fill=255, width=w)
        else:
            x = np.linspace(20, SIDE - 20, 80)
            d.line(list(zip(x, c[1] + r * 0.3 * np.sin(x / rng.uniform(10, 30)))), fill=255, width=w)
    elif kind == "face":
        d.ellipse([c[0] - r, c[1] - r, c[0] + r, c[1] + r], outline=255, width=w)
        for sx in (-0.35, 0.35):
            e = (c[0] + sx * r, c[1] - 0.3 * r)
            d.ellipse([e[0] - w, e[1] - w, e[0] + w, e[1] + w], fill=255)
        d.arc([c[0] - 0.5 * r, c[1] - 0.3 * r, c[0] + 0.5 * r, c[1] + 0.55 * r], 20, 160, fill=255, width=w)
    elif kind == "blob":
        rx, ry = r, r * rng.uniform(0.4, 1.0)
        box = [c[0] - rx, c[1] - ry, c[0] + rx, c[1] + ry]
        if rng.random() < 0.5:
            d.ellipse(box, fill=255)
        elif rng.random() < 0.5:
            d.rectangle(box, fill=255)
        else:
            d.polygon(_points(rng, 5), fill=255)
    elif kind == "dots":
        for x, y in _points(rng, int(rng.integers(1, 4))):
            s = rng.uniform(3, 15)
            d.ellipse([x - s, y - s, x + s, y + s], fill=255)
    elif kind in ("stripes", "grid"):
        n = int(rng.integers(3, 7))
        for i in range(n):
            pos = 20 + (SIDE - 40) * i / (n - 1)
            d.line([(20, pos), (SIDE - 20, pos + rng.uniform(-10, 10))], fill=255, width=w)
            if kind == "grid":
                d.line([(pos, 20), (pos + rng.uniform(-10, 10), SIDE - 20)], fill=255, width=w)
        if rng.random() < 0.5:
            img = img.transpose(Image.Transpose.ROTATE_90)
    elif kind == "full":
        d.rectangle([0, 0, SIDE, SIDE], fill=255)
        if rng.random() < 0.5:
            p = _points(rng, 8, 0)
            d.line(p, fill=0, width=w)
    return _canvas(img, rng, canvas_only)


def non_digits(
    n: int, seed: int = 1234, *, canvas_only: bool = False, kinds: tuple[str, ...] = KINDS
) -> tuple[list[np.ndarray], list[str]]:
    """n non-digit images (``kinds`` in turn) and their kinds; ``canvas_only``: all on a
    transparent canvas (quicker to prepare), else some as dark ink on white."""
    rng = np.random.default_rng([seed, 77])
    fonts = _fonts()
    chosen = [kinds[i % len(kinds)] for i in range(n)]
    return [non_digit(k, rng, fonts, canvas_only) for k in chosen], chosen


BANK = 1500  # outlier images in the training bank
# The bank has three times the letters and twice the outlines and scribbles: the kinds that
# look most like digits, and the ones the model learnt least from an even share (letters
# refused 44% -> 66%, all non-digits 75% -> 79% on the drawn yardstick; a bank of 4,000
# with an even share gained nothing). benchmarks/drawn_accuracy.py --train-seeds 0 1.
BANK_KINDS = KINDS + ("letter", "letter", "outline", "scribble")
RESTROKE = ("letter", "outline", "arrow", "cross", "face")  # half of these are re-stroked like a hand-drawn line


@lru_cache(maxsize=1)
def outlier_images() -> np.ndarray:
    """(n, 28, 28) uint8: BANK non-digits (seed 0) prepared the MNIST way (empty ones and
    the ones with no ink to prepare left out); kept on disk (``cnn.banks``)."""
    from cnn.banks import cached
    from cnn.fonts import font_files

    return cached("non-digits", _draw_outliers, font_files())["images"]


def _draw_outliers() -> dict[str, np.ndarray]:
    from cnn.drawings import draw_digit
    from cnn.preprocess import prepare

    images, kinds = non_digits(BANK, seed=0, canvas_only=True, kinds=BANK_KINDS)
    rng = np.random.default_rng([0, 79])
    out = []
    for image, kind in zip(images, kinds):
        prepared = prepare(image)
        if prepared is None:
            continue
        x = np.round(prepared.image * 255).astype(np.uint8)
        if kind in RESTROKE and rng.random() < 0.5:
            # As a hand would draw it: the skeleton re-stroked with a round pen, slightly jittered.
            drawn = draw_digit(
                x, canvas=140, size=rng.uniform(60, 130), center=(70, 70), pen=rng.uniform(3, 14), rng=rng
            )
            again = prepare(drawn)
            if again is not None:
                x = np.round(again.image * 255).astype(np.uint8)
        out.append(x)
    return {"images": np.stack(out) if out else np.zeros((0, 28, 28), np.uint8)}
