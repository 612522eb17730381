"""The drawing canvas's strokes, for reading a number by them (`cnn.number.read_number`).

The canvas (streamlit-drawable-canvas 0.13, Fabric.js 7) reports its drawing twice: the
picture, and ``json_data``: one Fabric "Path" object per stroke, in drawing order. Two
digits whose inks touch are one blob of ink in the picture but still two strokes, so the
number reader groups strokes into digits rather than connected ink when it has them.

A freehand path's points are canvas pixels: "M" (move), "Q" (a quadratic curve: control
point, then end point), "L" (line) and "C" (cubic: two control points, then end point).
The object stands at (left, top), its origin ("center" for freehand paths) placed there,
scaled by scaleX/scaleY about the centre of its box (a freehand path is never scaled:
its points are then taken as they are).

The JSON comes from the browser, so from anyone in a classroom: what cannot be read, or
would take long to draw, gives no map, and the reader goes by connected ink.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

EDGE = 4  # px drawn beyond the pen on each side: the picture's anti-aliased fringe belongs to the stroke too
MAX_STROKES = 500  # more paths than this, or ...
MAX_POINTS = 20_000  # ... more points in all, and the drawing is read by connected ink
LIMIT = 1e5  # coordinates, pen widths and scales beyond this are not a canvas's
ORIGIN = {"left": 0.5, "top": 0.5, "center": 0.0, "right": -0.5, "bottom": -0.5}  # origin to centre, in sizes


def stroke_map(json_data: object, shape: tuple[int, int]) -> np.ndarray | None:
    """An int32 map of ``shape`` (height, width) naming the stroke that drew each pixel: 1
    for the first stroke, 2 for the second, ..., 0 where none did (a later stroke over an
    earlier; an earlier one keeps its own ink from a later one's fringe). None when
    ``json_data`` holds no freehand path that can be drawn, or too many."""
    objects = json_data.get("objects") if isinstance(json_data, dict) else None
    if not isinstance(objects, list) or len(objects) > MAX_STROKES:
        return None
    strokes = [stroke for stroke in map(_stroke, objects) if stroke is not None]
    if not strokes or sum(len(points) for points, _ in strokes) > MAX_POINTS:
        return None
    height, width = shape
    reach_limit = float(np.hypot(height, width))
    canvas = Image.new("I", (width, height), 0)
    draw = ImageDraw.Draw(canvas)
    for extra in (EDGE, 0):  # fringes first, then every stroke's own ink over them
        for label, (points, pen) in enumerate(strokes, start=1):
            reach = min(pen / 2 + extra, reach_limit)
            if len(points) > 1:
                draw.line(points, fill=label, width=max(1, round(2 * reach)), joint="curve")
            for x, y in (points[0], points[-1]):  # round ends (and a dot, a path of one point)
                draw.ellipse([x - reach, y - reach, x + reach, y + reach], fill=label)
    return np.asarray(canvas, np.int32)


def _stroke(obj: object) -> tuple[list[tuple[float, float]], float] | None:
    """A Path object's points in canvas pixels and its pen width there, or None if it is
    not a path or cannot be read."""
    if not isinstance(obj, dict) or str(obj.get("type", "")).lower() != "path" or not isinstance(obj.get("path"), list):
        return None
    samples = []
    for command in obj["path"]:
        if not isinstance(command, list) or len(command) == 1:
            continue  # "Z" (close the path) has no point of its own
        values = [_number(v) for v in command[1:]]
        if len(values) not in (2, 4, 6) or any(v is None for v in values):
            return None
        if len(values) == 4 and samples:  # "Q": its curve's middle too, B(1/2) = (start + 2 control + end) / 4
            (sx, sy), (cx, cy, ex, ey) = samples[-1], values
            samples.append(((sx + 2 * cx + ex) / 4, (sy + 2 * cy + ey) / 4))
        samples.append((values[-2], values[-1]))
    if not samples or len(samples) > MAX_POINTS:
        return None
    scale = np.array([_number(obj.get("scaleX"), 1.0), _number(obj.get("scaleY"), 1.0)])
    pen = _number(obj.get("strokeWidth"), 1.0)
    if pen is None or scale[0] is None or scale[1] is None or pen < 0:
        return None
    xy = np.array(samples, float)
    if (scale != 1).any() or obj.get("originX", "center") != "center" or obj.get("originY", "center") != "center":
        lo, hi = xy.min(axis=0), xy.max(axis=0)
        size = (hi - lo + pen) * np.abs(scale)  # Fabric's box takes in the pen
        origin = np.array([ORIGIN.get(_text(obj.get("originX")), 0.0), ORIGIN.get(_text(obj.get("originY")), 0.0)])
        place = np.array([_number(obj.get("left"), 0.0), _number(obj.get("top"), 0.0)])
        if place[0] is None or place[1] is None:
            return None
        xy = place + origin * size + (xy - (lo + hi) / 2) * scale
    if not (np.abs(xy) <= LIMIT).all():
        return None
    return [(float(x), float(y)) for x, y in xy], max(1.0, pen * float(np.abs(scale).max()))


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _number(value: object, default: float | None = None) -> float | None:
    """``value`` as a float if it is a number a canvas could send (finite, within LIMIT),
    ``default`` if it is absent (None), else None."""
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value) if abs(value) <= LIMIT else float("inf")
    return number if np.isfinite(number) else None
