"""Any drawing or image -> the 28x28 the model expects, made the way MNIST was made.

MNIST digits were size-normalised to fit a 20x20 box keeping their aspect ratio
(anti-aliasing gives the grey levels) and then centred in 28x28 by putting their centre
of mass at the centre. A drawing has to go through the same steps, or the model sees
something unlike anything it was trained on. The steps, each kept in `Prepared` so the
app can show them:

1. ink map      any image -> float32 ink in [0, 1] (ink = 1, background = 0)
2. specks       drop stray dots far from the digit (keep every real stroke)
3. crop         the bounding box of the remaining ink
4. fit          resize so the longer side is 20 px, keeping the aspect ratio
5. centre       place in 28x28 with the centre of mass at pixel (14, 14), the
                strongest ink at full strength (1)

Coordinates: pixel (i, j) has its centre at (i, j), so a 28x28 image spans -0.5..27.5.
MNIST's own centres of mass average (14.0, 14.0) in these coordinates (they were
rounded to whole pixels there, which spreads them by +-0.5); we shift by sub-pixel
amounts so the centre of mass lands on (14, 14) itself.

Untrusted files become arrays in `cnn.imagefile`; this module takes arrays.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from cnn.errors import CnnError
from cnn.imagefile import MAX_SIDE

# The MNIST geometry.
SIZE = 28  # the model's input is SIZE x SIZE
BOX = 20  # the digit is fitted into BOX x BOX ...
CENTRE = 14.0  # ... and its centre of mass placed at (CENTRE, CENTRE)

# Ink map.
MIN_CONTRAST = 0.1  # ink must differ from the background by this much (0..1)
NOISE_SIGMAS = 3.0  # background noise below this many sigmas is not ink
# Uneven light (photos): see _illumination.
LIGHT_CELLS = 128  # the background is estimated on a grid of at most this many cells a side
LIGHT_BLOCK = 5  # ... as the median of blocks of this many cells a side
LIGHT_RANGE = 0.6  # light and shadow darken paper by at most this share; darker is ink
LIGHT_INSIDE = 0.1  # background inside this much darker than at the darkest edge ...
LIGHT_INK = 0.75  # ... and this share as dark as the ink (above the paper) is ink: a filled shape
LIGHT_EVEN = 0.02  # a background that varies less than this is left alone
# Ruled lines (photos of lined paper): see _without_ruled_lines.
LINE_CELLS = 100  # lines are found on a grid of at most this many cells a side
LINE_TILT = 8.0  # lines tilted up to this many degrees are found
LINE_SPAN = 0.7  # a line crosses at least this share of the picture
LINE_FAINT = 0.04  # ... with ink above this level ...
LINE_INK = 0.5  # ... and on it, ink below this level is line, not digit
# Specks and blanks.
STROKE_LEVEL = 0.25  # ink above this counts when finding connected strokes
POOL_CELLS = 64  # strokes are found on a grid of at most this many cells a side
MAIN_FRACTION = 0.25  # a stroke with >= this share of the biggest stroke's ink is main
NEAR_FRACTION = 0.25  # a smaller one is kept if it lies within this share of the
# digit's size from the main strokes ...
SPECK_FRACTION = 0.02  # ... and is not a speck (< this share of the biggest stroke)
MIN_DIGIT_INK = 0.1  # the biggest stroke must hold ink worth this share of the image
# side (in pixels), else the image is blank
CROP_LEVEL = 0.1  # the crop box covers ink above this level


@dataclass(frozen=True)
class Prepared:
    """Every step of the preparation, for the model and for the teaching view."""

    image: np.ndarray  # (28, 28) float32 in [0, 1], ink = 1: what the model sees
    ink: np.ndarray  # float32 [0, 1] ink map of the whole input (its H x W),
    # specks included, so a view can show what was dropped
    box: tuple[int, int, int, int]  # (top, left, bottom, right) of the kept ink, input coords,
    # bottom/right exclusive
    crop: np.ndarray  # float32 the ink inside `box` with the dropped specks blanked: the digit
    fitted: np.ndarray  # float32 digit fitted into 20x20 (longer side == 20)
    shift: tuple[float, float]  # (dy, dx): `fitted`'s top-left corner sits at (dy, dx)
    # in `image` (sub-pixel; centre of mass -> (14, 14))


# ---------------------------------------------------------------------------------------
# 1. Ink map
# ---------------------------------------------------------------------------------------


def _as_unit_float(a: np.ndarray) -> np.ndarray:
    """Pixel values (already checked by ``_validated``) -> float32 in [0, 1]."""
    if a.dtype == np.bool_:
        return a.astype(np.float32)
    if np.issubdtype(a.dtype, np.integer):
        lo, hi = int(a.min()), int(a.max())
        if lo < 0 or hi > 65535:
            raise CnnError(
                f"The image has pixel values from {lo} to {hi}, which is not a picture format "
                "this app understands. Use 8-bit (0-255) or 16-bit (0-65535) pixels, or "
                "floats in [0, 1]."
            )
        scale = 255.0 if hi <= 255 else 65535.0
        return a.astype(np.float32) / np.float32(scale)
    a = a.astype(np.float32, copy=False)
    lo, hi = float(a.min()), float(a.max())
    if lo >= -1e-3 and hi <= 1.0 + 1e-3:
        return np.clip(a, 0.0, 1.0)
    if lo >= 0.0 and hi <= 255.0:
        return a / np.float32(255.0)
    raise CnnError(
        f"The image has float pixel values from {lo:g} to {hi:g}. Scale them to [0, 1] (or 0-255) and try again."
    )


def _border(a: np.ndarray) -> np.ndarray:
    """The pixels of a ring around the image, about 2% of the shorter side wide."""
    h, w = a.shape
    b = max(1, min(h, w) // 50)
    if 2 * b >= min(h, w):
        return a.ravel()
    return np.concatenate([a[:b].ravel(), a[-b:].ravel(), a[b:-b, :b].ravel(), a[b:-b, -b:].ravel()])


def _median(a: np.ndarray) -> float:
    k = a.size // 2
    if a.size % 2:
        return float(np.partition(a, k)[k])
    part = np.partition(a, [k - 1, k])
    return (float(part[k - 1]) + float(part[k])) / 2


def _background(signal: np.ndarray) -> tuple[float, float]:
    """(level, noise sigma) of the background, from the border ring (see _background_of)."""
    return _background_of(_border(signal).astype(np.float32))


def _background_of(pixels: np.ndarray) -> tuple[float, float]:
    """(level, noise sigma) of background pixels: their median, and their median absolute
    deviation scaled to a Gaussian sigma."""
    bg = _median(pixels)
    noise = 1.4826 * _median(np.abs(pixels - np.float32(bg)))
    return bg, noise


def _normalise(signal: np.ndarray, bg: float, noise: float, unit: float) -> np.ndarray:
    """`signal` (ink brighter than the background level `bg`; values in 0..unit) -> ink in
    [0, 1]: the background and its noise go to 0, the bulk of the strongest ink to 1.
    Not enough contrast -> all zeros (blank)."""
    floor = bg + NOISE_SIGMAS * noise
    top = float(signal.max())
    if top - floor < MIN_CONTRAST * unit:
        return np.zeros(signal.shape, np.float32)
    strong = signal[signal >= floor + 0.5 * (top - floor)]
    k = (3 * (strong.size - 1)) // 4  # the 75th percentile of the strong ink
    peak = float(np.partition(strong, k)[k])
    ink = signal.astype(np.float32)
    if floor == 0.0 and peak == unit:  # already clean, e.g. a canvas drawing
        if unit != 1.0:
            ink *= np.float32(1.0 / unit)
        return ink
    ink -= np.float32(floor)
    ink *= np.float32(1.0 / max(peak - floor, 1e-6 * unit))
    return np.clip(ink, 0.0, 1.0, out=ink)


def _validated(image: np.ndarray) -> np.ndarray:
    """The one check of an input array: its shape, size, pixel type and finiteness."""
    try:
        a = np.asarray(image)
    except Exception as e:  # pragma: no cover - exotic array-likes
        raise CnnError(f"Could not read the image as an array ({e}). Pass a numpy image array.") from e
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (1, 2, 3, 4)):
        raise CnnError(
            f"The image has shape {a.shape}; expected height x width (greyscale) or "
            "height x width x 1/3/4 channels (grey, RGB, RGBA). Pass a 2-D or 3-D image array."
        )
    if a.size == 0:
        raise CnnError(f"The image is empty (shape {a.shape}). Draw or upload a digit first.")
    h, w = a.shape[:2]
    if h > MAX_SIDE or w > MAX_SIDE:
        raise CnnError(
            f"The image is {w}x{h} pixels; the largest accepted is {MAX_SIDE}x{MAX_SIDE}. "
            "Shrink or crop it around the digit and try again."
        )
    if not (a.dtype == np.bool_ or np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
        raise CnnError(
            f"The image has pixels of type {a.dtype}, which is not a number type for pictures. "
            "Pass a uint8 array (0-255) or floats in [0, 1]."
        )
    if np.issubdtype(a.dtype, np.floating) and not np.isfinite(a).all():
        raise CnnError(
            "The image contains NaN or infinite pixel values. "
            "Replace them (for example with np.nan_to_num) and try again."
        )
    return a[:, :, 0] if a.ndim == 3 and a.shape[2] == 1 else a


def _plane(a: np.ndarray) -> tuple[np.ndarray, float]:
    """One channel -> (values, unit): uint8 stays uint8 (unit 255), the rest float [0, 1]."""
    if a.dtype == np.uint8:
        return np.ascontiguousarray(a), 255.0
    return _as_unit_float(a), 1.0


def ink_map(image: np.ndarray) -> np.ndarray:
    """Any image array -> float32 ink map in [0, 1] with ink = 1, same height x width.

    RGBA (or grey + alpha) with a transparent background (a canvas drawing): ink = alpha,
    whatever the stroke colour; a mostly opaque one is composited on white first.
    Fully opaque RGBA, RGB, greyscale (H, W) or (H, W, 1), uint8 or float in [0, 1]:
    ink is the minority, dark on light or light on dark (judged from the border's
    median brightness). Contrast is normalised: the background level (and up to 3 sigma
    of its noise, so paper texture stays blank) goes to 0, the bulk of the ink to 1.
    A blank image gives all zeros. Malformed input raises CnnError."""
    a = _validated(image)
    if a.ndim == 3 and a.shape[2] in (2, 4):
        alpha, unit = _plane(a[:, :, -1])
        if float(alpha.min()) < unit:
            bg, noise = _background(alpha)
            if bg < 0.5 * unit:
                # Transparent background: the strokes are where it is opaque.
                return _normalise(alpha, bg, noise, unit)
            # Mostly opaque with a few transparent parts: composite on white, then as usual.
            opacity = alpha.astype(np.float32) * np.float32(1.0 / unit)
            colour = _luminance(_as_unit_float(a[:, :, :-1]))
            return _ink_from_luminance(colour * opacity + (1.0 - opacity), 1.0)
        a = a[:, :, :-1]
    if a.ndim == 2:
        lum, unit = _plane(a)
    else:
        lum, unit = _luminance(_as_unit_float(a)), 1.0
    return _ink_from_luminance(lum, unit)


def _luminance(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 1|3) float -> (H, W) float32 luma (ITU-R 601, as PIL's "L")."""
    if rgb.shape[2] == 1:
        return rgb[:, :, 0]
    r, g, b = rgb[:, :, 0], rgb[:, :, 1], rgb[:, :, 2]
    return (np.float32(0.299) * r + np.float32(0.587) * g + np.float32(0.114) * b).astype(np.float32)


def _ink_from_luminance(lum: np.ndarray, unit: float) -> np.ndarray:
    bg, noise = _background(lum)
    bright = lum.astype(np.float32) * np.float32(1.0 / unit)
    dark_ink = bg >= 0.5 * unit
    signal = (1.0 - bright) if dark_ink else bright
    light = _illumination(signal)
    if 0.25 * unit < bg < 0.75 * unit:
        # A grey background: the ink is on whichever side more pixels stray beyond the
        # border's own range (the border holds the paper's lightest and darkest parts, a
        # gradient's two ends and a shadow, so these do not count).
        lo, hi = np.percentile(_border(lum), [0.5, 99.5])
        margin = 0.5 * MIN_CONTRAST * unit
        darker = int(np.count_nonzero(lum < lo - margin))
        lighter = int(np.count_nonzero(lum > hi + margin))
        dark_side = darker > lighter if darker != lighter else dark_ink  # a tie: paper is the lighter
        if dark_side != dark_ink:
            dark_ink, signal = not dark_ink, 1.0 - signal
            light = _illumination(signal)
    if light is not None:
        # Remove the light: dark ink absorbs a share of the light that reaches the paper, so
        # divide by the paper's brightness; light ink on a dark ground adds to it, so subtract.
        signal = (signal - light) / np.maximum(1.0 - light, 0.05) if dark_ink else signal - light
        np.clip(signal, -1.0, 1.0, out=signal)  # keep the noise's negative half: it measures the noise
        # The background is now level everywhere: measure it and its noise on the whole
        # picture (every 3rd pixel), not just the border, where a shadow's edge, a margin
        # or the ends of ruled lines may fall.
        bg, noise = _background_of(signal[::3, ::3].ravel())
    else:
        bg, noise = _background(signal)
    return _without_ruled_lines(_normalise(signal, bg, noise, 1.0))


def _sliding(a: np.ndarray, k: int, axis: int, op) -> np.ndarray:
    """Running min or max over windows of `k` along `axis` (edges replicated), same shape."""
    pad = [(0, 0), (0, 0)]
    pad[axis] = (k // 2, k - 1 - k // 2)
    view = np.lib.stride_tricks.sliding_window_view(np.pad(a, pad, mode="edge"), k, axis=axis)
    return op(view, axis=-1)


def _illumination(signal: np.ndarray) -> np.ndarray | None:
    """The background's own level under the ink (uneven light, a shadow, a vignette), as an
    array like `signal` (ink brighter than the background), or None when the background is
    even (nothing to remove).

    Two passes on a grid of at most LIGHT_CELLS cells a side. First a grey opening (running
    minimum, then maximum) over windows a quarter of the picture wide: it removes every
    stroke narrower than that and keeps smooth ramps, but shaves the corners of a shadow's
    edge. So it only finds the ink roughly; then the background is the median of the
    pixels that are not ink in each small block (LIGHT_BLOCK cells), which follows a shadow
    edge closely, and blocks that are mostly ink take their neighbours' level. Light can
    darken paper only so far: a level more than LIGHT_RANGE above the least-inked
    background is capped there, and one darker than every edge and nearly as dark as the
    ink is taken for ink (LIGHT_INSIDE, LIGHT_INK), so a big filled block stays ink."""
    h, w = signal.shape
    f = max(1, math.ceil(max(h, w) / LIGHT_CELLS))
    gh, gw = h // f, w // f
    b = LIGHT_BLOCK
    if min(gh, gw) < 4 * b:
        return None
    cells = _pool(np.ascontiguousarray(signal[: gh * f, : gw * f]), f, np.add) * np.float32(1.0 / (f * f))
    k = max(3, min(gh, gw) // 4)
    opened = _sliding(_sliding(cells, k, 0, np.min), k, 1, np.min)
    opened = _sliding(_sliding(opened, k, 0, np.max), k, 1, np.max)
    rough = cells - opened
    strong = float(np.percentile(rough, 99.5))
    if strong <= 0:
        return None
    inked = rough > 0.25 * strong
    inked = _sliding(_sliding(inked, 3, 0, np.max), 3, 1, np.max)  # and the stroke's soft edges
    # Median of the background cells in each b x b block.
    bh, bw = gh // b, gw // b
    blocks = np.where(inked, np.nan, cells)[: bh * b, : bw * b].reshape(bh, b, bw, b).transpose(0, 2, 1, 3)
    blocks = blocks.reshape(bh, bw, b * b)
    enough = np.sum(~np.isnan(blocks), axis=2) >= b * b // 4
    level = np.full((bh, bw), np.nan, np.float32)
    if not enough.any():
        return None
    level[enough] = np.nanmedian(blocks[enough], axis=1)
    while np.isnan(level).any():  # mostly-ink blocks: the mean of their known neighbours
        padded = np.pad(level, 1, constant_values=np.nan)
        near = np.stack([padded[1 + dy : 1 + dy + bh, 1 + dx : 1 + dx + bw] for dy in (-1, 0, 1) for dx in (-1, 0, 1)])
        known = ~np.isnan(near)
        fill = np.where(known.any(axis=0), np.nansum(near, axis=0) / np.maximum(known.sum(axis=0), 1), np.nan)
        level = np.where(np.isnan(level), fill, level).astype(np.float32)
    lowest = float(level.min())
    # A level inside the picture darker than every edge block and nearly as dark as the ink
    # is ink too big for the opening (a filled disc), not light: a gradient, a vignette or
    # a shadow across the page is as dark at an edge, and a shadow that falls inside it
    # (a hand, a phone) is far paler than ink.
    edge = float(np.concatenate([level[0], level[-1], level[:, 0], level[:, -1]]).max())
    ink = float(np.percentile(cells, 99.5))
    filled = (level > edge + LIGHT_INSIDE) & (level - lowest >= LIGHT_INK * (ink - lowest))
    level[filled] = edge
    np.minimum(level, lowest + LIGHT_RANGE, out=level)
    if float(level.max()) - lowest < LIGHT_EVEN:
        return None
    # Block centres -> pixels: bilinear, edges held.
    light = Image.fromarray(level).resize((bw * b * f, bh * b * f), Image.BILINEAR)
    light = np.asarray(light, dtype=np.float32)
    return np.pad(light, ((0, h - bh * b * f), (0, w - bw * b * f)), mode="edge")


def _without_ruled_lines(ink: np.ndarray) -> np.ndarray:
    """`ink` with ruled lines (and a margin) removed: faint straight lines, near-horizontal
    or near-vertical, that cross at least LINE_SPAN of the picture. Strong ink on them
    stays (a digit written across a line keeps its stroke)."""
    out = ink
    for transpose in (False, True):
        a = out.T if transpose else out
        mask = _line_mask(a)
        if mask is not None:
            a = np.where(mask & (a < LINE_INK), np.float32(0), a)
            out = a.T if transpose else a
    return np.ascontiguousarray(out)


def _line_mask(ink: np.ndarray) -> np.ndarray | None:
    """Pixels on near-horizontal lines (tilted up to LINE_TILT degrees) that cross at least
    LINE_SPAN of the width, with their anti-aliased neighbours; None when there are none."""
    h, w = ink.shape
    f = max(1, math.ceil(max(h, w) / LINE_CELLS))
    gh, gw = h // f, w // f
    if min(gh, gw) < 8:
        return None
    small = _pool(np.ascontiguousarray(ink[: gh * f, : gw * f]), f, np.maximum)
    present = small > LINE_FAINT
    if present.any(axis=0).mean() < LINE_SPAN:  # nothing crosses that much of the width
        return None
    x = np.arange(gw) - gw / 2
    cols = np.arange(gw)
    tilts = np.radians(np.arange(-LINE_TILT, LINE_TILT + 0.25, 0.5))
    offsets = np.round(np.tan(tilts)[:, None] * x[None, :]).astype(np.int64)
    # rows[t, r, c]: the row that column c's pixel comes from on line r at tilt t.
    rows = np.arange(gh)[None, :, None] + offsets[:, None, :]
    inside = (rows >= 0) & (rows < gh)
    sheared = present[np.clip(rows, 0, gh - 1), cols[None, None, :]] & inside
    # A line row: ink in at least LINE_SPAN of the columns (one row either side counts, for
    # lines that fall between the tried tilts).
    near = sheared | np.roll(sheared, 1, axis=1) | np.roll(sheared, -1, axis=1)
    t_found, r_found = np.nonzero(near.mean(axis=2) >= LINE_SPAN)
    mask = np.zeros((gh, gw), bool)
    for t, r in zip(t_found.tolist(), r_found.tolist()):
        for rr in (r - 1, r, r + 1):
            if 0 <= rr < gh:
                src = rows[t, rr]
                ok = inside[t, rr]
                mask[src[ok], cols[ok]] = True
    if not mask.any():
        return None
    mask = np.repeat(np.repeat(mask, f, axis=0), f, axis=1)
    full = np.zeros((h, w), bool)
    full[: gh * f, : gw * f] = mask
    return full


# ---------------------------------------------------------------------------------------
# 2. Specks: connected strokes on a coarse grid
# ---------------------------------------------------------------------------------------


def _strokes(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """8-connected components of a small boolean grid, by union-find over row runs.

    Returns (run_rows, run_starts, run_ends, run_component) with ends exclusive and the
    component ids numbered 0..n-1."""
    h, w = cells.shape
    padded = np.zeros((h, w + 2), np.int8)
    padded[:, 1:-1] = cells
    edges = np.diff(padded, axis=1)
    rows, starts = np.nonzero(edges == 1)
    _, ends = np.nonzero(edges == -1)
    n = len(rows)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    # Runs in consecutive rows touch (8-connected) when their column spans overlap or meet
    # diagonally: start_a <= end_b and start_b <= end_a (ends exclusive).
    row_first = np.searchsorted(rows, np.arange(h + 1)).tolist()
    s_list, e_list = starts.tolist(), ends.tolist()
    for r in range(h - 1):
        a, a_end = row_first[r], row_first[r + 1]
        b, b_end = row_first[r + 1], row_first[r + 2]
        while a < a_end and b < b_end:
            if s_list[a] <= e_list[b] and s_list[b] <= e_list[a]:
                ra, rb = find(a), find(b)
                if ra != rb:
                    parent[max(ra, rb)] = min(ra, rb)
            # Advance whichever run ends first.
            if e_list[a] < e_list[b]:
                a += 1
            else:
                b += 1
    roots = np.array([find(i) for i in range(n)], dtype=np.int64)
    _, component = np.unique(roots, return_inverse=True)
    return rows, starts, ends, component.reshape(-1)


def _pool(a: np.ndarray, f: int, op: np.ufunc) -> np.ndarray:
    """Combine f x f blocks of `a` (sides multiples of f) with `op` (max or add)."""
    rows = a[0::f].copy()
    for k in range(1, f):
        op(rows, a[k::f], out=rows)
    out = rows[:, 0::f].copy()
    for k in range(1, f):
        op(out, rows[:, k::f], out=out)
    return out


def padded_to(ink: np.ndarray, f: int) -> np.ndarray:
    """``ink`` (or any map of the same layout) padded with zeros at the bottom and right to
    whole f x f cells, in its own dtype."""
    h, w = ink.shape
    gh, gw = -(-h // f), -(-w // f)
    if (gh * f, gw * f) == (h, w):
        return ink
    padded = np.zeros((gh * f, gw * f), ink.dtype)
    padded[:h, :w] = ink
    return padded


def _keep_mask(ink: np.ndarray) -> tuple[np.ndarray, int, bool] | None:
    """Which coarse cells hold the digit (specks dropped), the cell size in pixels, and
    whether visible ink lies outside those cells. None when no stroke is big enough to be
    a digit."""
    h, w = ink.shape
    f = max(1, math.ceil(max(h, w) / POOL_CELLS))
    padded = padded_to(ink, f)
    gh, gw = padded.shape[0] // f, padded.shape[1] // f
    peak = _pool(padded, f, np.maximum)
    cells = peak > STROKE_LEVEL
    if not cells.any():
        return None
    mass = _pool(padded, f, np.add)

    rows, starts, ends, comp = _strokes(cells)
    row_mass = np.zeros((gh, gw + 1))
    np.cumsum(mass, axis=1, out=row_mass[:, 1:])
    run_mass = row_mass[rows, ends] - row_mass[rows, starts]
    n = int(comp.max()) + 1
    comp_mass = np.bincount(comp, weights=run_mass, minlength=n)
    biggest = float(comp_mass.max())
    if biggest < MIN_DIGIT_INK * max(h, w):
        return None

    if n == 1:
        keep = np.ones(1, bool)
    else:
        keep = _keep_components(rows, starts, ends, comp, comp_mass, (gh, gw))
    if keep.all():
        mask = cells
    else:
        kept_runs = keep[comp]
        mask = np.zeros((gh, gw + 1), np.int8)
        np.add.at(mask, (rows[kept_runs], starts[kept_runs]), 1)
        np.add.at(mask, (rows[kept_runs], ends[kept_runs]), -1)
        mask = np.cumsum(mask, axis=1)[:, :gw] > 0
    # Grow by one cell so the faint anti-aliased edges next to a stroke stay.
    grown = mask.copy()
    grown[1:] |= mask[:-1]
    grown[:-1] |= mask[1:]
    grown[:, 1:] |= grown[:, :-1].copy()
    grown[:, :-1] |= grown[:, 1:].copy()
    # Is there visible ink outside the kept cells (a dropped speck, faint smudges)?
    stray = bool(((peak > CROP_LEVEL) & ~grown).any())
    return grown, f, stray


def _keep_components(rows, starts, ends, comp, comp_mass, grid) -> np.ndarray:
    """Which strokes are the digit: the big ones (>= MAIN_FRACTION of the biggest), and
    smaller ones that are not specks (>= SPECK_FRACTION) and lie near the big ones (within
    NEAR_FRACTION of their extent). Everything else is a stray speck."""
    gh, gw = grid
    n = len(comp_mass)
    biggest = float(comp_mass.max())
    top = np.full(n, gh)
    bottom = np.zeros(n, np.int64)
    left = np.full(n, gw)
    right = np.zeros(n, np.int64)
    np.minimum.at(top, comp, rows)
    np.maximum.at(bottom, comp, rows + 1)
    np.minimum.at(left, comp, starts)
    np.maximum.at(right, comp, ends)

    main = comp_mass >= MAIN_FRACTION * biggest
    mt, mb = top[main].min(), bottom[main].max()
    ml, mr = left[main].min(), right[main].max()
    near = NEAR_FRACTION * max(mb - mt, mr - ml) + 1
    gap_y = np.maximum(0, np.maximum(mt - bottom, top - mb))
    gap_x = np.maximum(0, np.maximum(ml - right, left - mr))
    return main | ((comp_mass >= SPECK_FRACTION * biggest) & (np.maximum(gap_y, gap_x) <= near))


# ---------------------------------------------------------------------------------------
# 3-5. Crop, fit into 20x20, centre by mass in 28x28
# ---------------------------------------------------------------------------------------


def _resize(source: Image.Image, size: tuple[int, int], box: tuple[float, float, float, float]) -> np.ndarray:
    """Resample the region `box` (left, top, right, bottom; pixel edges) of a float image
    to `size` (width, height), anti-aliased: area averaging when shrinking, bilinear when
    enlarging. Returns float32 clipped to [0, 1]."""
    shrink = (box[2] - box[0]) >= size[0] and (box[3] - box[1]) >= size[1]
    out = source.resize(size, Image.BOX if shrink else Image.BILINEAR, box=box)
    return np.clip(np.asarray(out, dtype=np.float32), 0.0, 1.0)


def _centre_of_mass(a: np.ndarray) -> tuple[float, float]:
    total = float(a.sum())
    cy = float(a.sum(axis=1) @ np.arange(a.shape[0])) / total
    cx = float(a.sum(axis=0) @ np.arange(a.shape[1])) / total
    return cy, cx


def prepare(image: np.ndarray) -> Prepared | None:
    """An image of one handwritten digit -> every step towards the model's 28x28 input.

    None when there is no digit (blank, or only faint noise or tiny specks)."""
    return prepare_ink(ink_map(image))


def prepare_ink(ink: np.ndarray) -> Prepared | None:
    """`prepare` from step 2 on, for an ink map already made (float32 in [0, 1], ink = 1),
    such as one digit cut out of a drawn number (`cnn.number`)."""
    kept = _keep_mask(ink)
    if kept is None:
        return None
    cells, f, stray = kept
    h, w = ink.shape

    # Crop: first to the kept cells, then tightly to the ink inside them.
    cell_rows = np.flatnonzero(cells.any(axis=1))
    cell_cols = np.flatnonzero(cells.any(axis=0))
    t0, b0 = cell_rows[0] * f, min(h, (cell_rows[-1] + 1) * f)
    l0, r0 = cell_cols[0] * f, min(w, (cell_cols[-1] + 1) * f)
    window = ink[t0:b0, l0:r0]
    if stray:  # blank out what is not the digit
        keep_px = cells[cell_rows[0] : cell_rows[-1] + 1, cell_cols[0] : cell_cols[-1] + 1]
        keep_px = np.repeat(np.repeat(keep_px, f, axis=0), f, axis=1)[: b0 - t0, : r0 - l0]
        window = np.where(keep_px, window, np.float32(0))
    strong = window > CROP_LEVEL
    ys = np.flatnonzero(strong.any(axis=1))
    xs = np.flatnonzero(strong.any(axis=0))
    if len(ys) == 0:
        return None
    crop = np.ascontiguousarray(window[ys[0] : ys[-1] + 1, xs[0] : xs[-1] + 1])
    box = (int(t0 + ys[0]), int(l0 + xs[0]), int(t0 + ys[-1] + 1), int(l0 + xs[-1] + 1))

    # Fit: the longer side becomes 20 pixels, the aspect ratio is kept.
    ch, cw = crop.shape
    scale = BOX / max(ch, cw)
    fh, fw = max(1, round(ch * scale)), max(1, round(cw * scale))
    sy, sx = ch / fh, cw / fw  # crop pixels per fitted pixel
    py, px = math.ceil(sy) + 1, math.ceil(sx) + 1
    padded = np.zeros((ch + 2 * py, cw + 2 * px), np.float32)
    padded[py : py + ch, px : px + cw] = crop
    source = Image.fromarray(padded)
    fitted = _resize(source, (fw, fh), (px, py, px + cw, py + ch))
    if float(fitted.sum()) <= 0.0:
        return None

    # Centre: move the centre of mass to (14, 14), keeping the whole 20x20 box in frame.
    cy, cx = _centre_of_mass(fitted)
    dy = min(max(CENTRE - cy, 0.0), float(SIZE - fh))
    dx = min(max(CENTRE - cx, 0.0), float(SIZE - fw))
    iy, ix = math.floor(dy), math.floor(dx)
    fy, fx = dy - iy, dx - ix
    # The sub-pixel part of the shift: resample the crop once more, offset by (fy, fx)
    # fitted pixels and one pixel larger each way (sharper than interpolating `fitted`).
    moved = _resize(
        source, (fw + 1, fh + 1), (px - fx * sx, py - fy * sy, px + (fw + 1 - fx) * sx, py + (fh + 1 - fy) * sy)
    )
    out = np.zeros((SIZE, SIZE), np.float32)
    ph, pw = min(fh + 1, SIZE - iy), min(fw + 1, SIZE - ix)
    out[iy : iy + ph, ix : ix + pw] = moved[:ph, :pw]
    # Full strength: MNIST's strokes always reach 1 at their core, while a hairline or a
    # pencil stroke shrunk to 20 px fades to a faint grey, which a model reads as doubt.
    peak = float(out.max())
    if 0.0 < peak < 1.0:
        out *= np.float32(1.0 / peak)
        fitted = fitted * np.float32(1.0 / peak)
    return Prepared(image=out, ink=ink, box=box, crop=crop, fitted=fitted, shift=(float(dy), float(dx)))


def no_digit_reason(image: np.ndarray) -> str:
    """Why ``prepare(image)`` found no digit, in words for the user (call it when it did not)."""
    a = _validated(image)
    flat = None  # the picture's one shade, when it has only one
    if a.ndim == 3 and a.shape[2] in (2, 4):
        alpha = _as_unit_float(a[:, :, -1])
        if float(alpha.max()) < MIN_CONTRAST:
            return "nothing is drawn"
        if float(alpha.min()) > 1.0 - MIN_CONTRAST:  # opaque all over: its colours decide
            flat = _luminance(_as_unit_float(a[:, :, :-1]))
    else:
        flat = _luminance(_as_unit_float(a)) if a.ndim == 3 else _as_unit_float(a)
    if flat is not None and float(flat.max()) - float(flat.min()) < MIN_CONTRAST:
        return "the whole picture is ink" if float(flat.mean()) < 0.25 else "nothing is drawn"
    if float(ink_map(image).max()) <= STROKE_LEVEL:
        return "nothing stands out from the background (too faint?)"
    return "only a few specks or a tiny dot: draw the digit bigger"


def to_mnist(image: np.ndarray) -> np.ndarray | None:
    """An image of one handwritten digit -> (28, 28) float32 in [0, 1], or None if blank."""
    prepared = prepare(image)
    return None if prepared is None else prepared.image
