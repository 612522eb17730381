"""Typed digits for training: 0-9 rendered from the fonts the system has, prepared the MNIST way.

MNIST holds only handwriting, so a model trained on it alone reads typed digits badly (a
typed 1 has a flag and a base, which MNIST's writers rarely drew; a typed 6 has a
closed bowl and a short straight stem). ``font_digits()`` renders every digit in every
TrueType font it finds in the usual font folders (Debian ships DejaVu and Liberation),
regular and with a synthetic bold, and prepares each like a drawing (``cnn.preprocess``),
so training can mix them in (``TrainConfig.typed``) and augment them like the rest.

Pillow's built-in font (Aileron) is never used: the drawn-digit yardstick
(``cnn.handwriting``) types its digits in it, and training on it would flatter the score.
Without any font on the machine there are no typed digits, and training uses MNIST alone.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", "~/.local/share/fonts", "~/.fonts", "C:/Windows/Fonts")
# Fonts whose digits are no use: symbol and maths sets, and the yardstick's own.
SKIP = ("math", "symbol", "emoji", "aileron")
RENDER = 96  # glyph height in pixels before preparation
BOLD = (0, 4)  # synthetic bold: stroke widths added around each glyph


def font_files() -> list[Path]:
    """Every TrueType/OpenType font file in the usual folders, sorted (no duplicates)."""
    found = set()
    for folder in FONT_DIRS:
        root = Path(os.path.expanduser(folder))
        if root.is_dir():
            for path in root.rglob("*"):
                if path.suffix.lower() in (".ttf", ".otf") and not any(s in path.name.lower() for s in SKIP):
                    found.add(path.resolve())
    return sorted(found)


def _glyph(font: ImageFont.FreeTypeFont, ch: str, bold: int) -> np.ndarray | None:
    img = Image.new("L", (4 * RENDER, 3 * RENDER), 0)
    ImageDraw.Draw(img).text((RENDER, RENDER // 2), ch, font=font, fill=255, stroke_width=bold, stroke_fill=255)
    a = np.asarray(img)
    return a if a.any() else None


def _without_foot(glyph: np.ndarray) -> np.ndarray | None:
    """A glyph with its foot (bottom rows much wider than the stem, like the base of a 1)
    erased, or None when it has none."""
    rows = np.flatnonzero(glyph.any(axis=1))
    widths = (glyph[rows] > 127).sum(axis=1)
    stem = float(np.median(widths))
    foot = rows[(widths > 2 * stem) & (rows > rows[0] + 0.6 * (rows[-1] - rows[0]))]
    if len(foot) == 0:
        return None
    out = glyph.copy()
    out[foot.min() :] = 0
    return out


@lru_cache(maxsize=1)
def font_digits() -> tuple[np.ndarray, np.ndarray]:
    """(images (n, 28, 28) uint8, labels (n,) uint8): each digit in each font and weight,
    prepared like a drawing (kept on disk: ``cnn.banks``). Empty arrays when the machine
    has no fonts."""
    from cnn.banks import cached

    bank = cached("typed-digits", _draw_font_digits, font_files())
    return bank["images"], bank["labels"]


def _draw_font_digits() -> dict[str, np.ndarray]:
    from cnn.preprocess import prepare

    images, labels = [], []
    for path in font_files():
        try:
            font = ImageFont.truetype(str(path), RENDER)
        except OSError:
            continue
        for digit in range(10):
            for bold in BOLD:
                glyph = _glyph(font, str(digit), bold)
                if glyph is None:
                    continue
                variants = [glyph]
                if digit == 1:  # a 1 with a foot also comes without one (fonts differ)
                    variants += [g for g in [_without_foot(glyph)] if g is not None]
                for variant in variants:
                    prepared = prepare(variant)
                    if prepared is not None:
                        images.append(np.round(prepared.image * 255).astype(np.uint8))
                        labels.append(digit)
    if not images:
        return {"images": np.zeros((0, 28, 28), np.uint8), "labels": np.zeros(0, np.uint8)}
    return {"images": np.stack(images), "labels": np.asarray(labels, np.uint8)}
