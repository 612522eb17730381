"""The drawing canvas's strokes, for reading a number by them (`cnn.number.read_number`).

The canvas (streamlit-drawable-canvas 0.13, Fabric.js 7) reports its drawing twice: the
picture, and ``json_data``: one Fabric "Path" object per stroke, in drawing order. Two
digits whose inks touch are one blob of ink in the picture but still two strokes, so the
number reader groups strokes into digits rather than connected ink when it has them.

A freehand path's points are canvas pixels: "M" (move), "Q" (a quadratic curve: control
point, then end point), "L" (line) and "C" (cubic: two control points, then end point).
The object stands at (left, top), its origin ("center" for freehand paths) placed there,
scaled by scaleX/scaleY about the centre of its points.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

EDGE = 4  # px drawn beyond the pen on each side: the picture's anti-aliased fringe belongs to the stroke too


def stroke_map(json_data: object, shape: tuple[int, int]) -> np.ndarray | None:
    """An int32 map of ``shape`` (height, width) naming the stroke that drew each pixel: 1
    for the first stroke, 2 for the second, ..., 0 where none did (a later stroke over an
    earlier one). None when ``json_data`` holds no freehand path that can be drawn (the
    reader then goes by connected ink)."""
    objects = json_data.get("objects") if isinstance(json_data, dict) else None
    if not isinstance(objects, list):
        return None
    height, width = shape
    canvas = Image.new("I", (width, height), 0)
    draw = ImageDraw.Draw(canvas)
    drawn = 0
    for obj in objects:
        points = _points(obj)
        if points is None:
            continue
        drawn += 1
        pen = max(1.0, _number(obj.get("strokeWidth"), 1.0) * max(abs(_scale(obj, "X")), abs(_scale(obj, "Y"))))
        reach = pen / 2 + EDGE
        if len(points) > 1:
            draw.line(points, fill=drawn, width=round(2 * reach), joint="curve")
        for x, y in (points[0], points[-1]):  # round ends (and a dot, a path of one point)
            draw.ellipse([x - reach, y - reach, x + reach, y + reach], fill=drawn)
    return np.asarray(canvas, np.int32) if drawn else None


def _points(obj: object) -> list[tuple[float, float]] | None:
    """A Path object's points in canvas pixels, or None if it is not a path or is malformed."""
    if not isinstance(obj, dict) or str(obj.get("type", "")).lower() != "path" or not isinstance(obj.get("path"), list):
        return None
    raw = []
    for command in obj["path"]:
        if isinstance(command, list) and len(command) == 1:
            continue  # "Z": close the path, no point of its own
        if not isinstance(command, list) or len(command) < 3 or len(command) % 2 == 0:
            return None
        values = [_number(v, None) for v in command[1:]]
        if any(v is None for v in values):
            return None
        raw.append(values[-2:])  # the end point of each command
    if not raw:
        return None
    xy = np.array(raw, float)
    centre = (xy.min(axis=0) + xy.max(axis=0)) / 2
    size = xy.max(axis=0) - xy.min(axis=0)
    scale = np.array([_scale(obj, "X"), _scale(obj, "Y")])
    place = np.array([_number(obj.get("left"), centre[0]), _number(obj.get("top"), centre[1])])
    # Where the object's origin is, as a share of its size from its centre (left/top: -1/2).
    shift = {"left": 0.5, "top": 0.5, "center": 0.0, "right": -0.5, "bottom": -0.5}
    origin = np.array([shift.get(obj.get("originX"), 0.0), shift.get(obj.get("originY"), 0.0)])
    middle = place + origin * size * scale
    out = middle + (xy - centre) * scale
    if not np.isfinite(out).all():
        return None
    return [(float(x), float(y)) for x, y in out]


def _scale(obj: dict, axis: str) -> float:
    return _number(obj.get(f"scale{axis}"), 1.0)


def _number(value: object, default):
    """``value`` as a float if it is a finite number, else ``default``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
        return default
    return float(value)
