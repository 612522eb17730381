"""The canvas's strokes as a label map (ui/strokes.py), from Fabric.js paths as the canvas sends them."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
from PIL import Image

from benchmarks.classroom_load import load_template
from ui.strokes import stroke_map


def path(points, pen=16, **fields) -> dict:
    """A freehand Path as Fabric 7 writes it: absolute canvas points, centred origin."""
    xy = np.array(points, float)
    centre = (xy.min(axis=0) + xy.max(axis=0)) / 2
    commands = [["M", *points[0]]] + [["L", *p] for p in points[1:]]
    obj = {"type": "Path", "originX": "center", "originY": "center", "left": centre[0], "top": centre[1]}
    return {**obj, "strokeWidth": pen, "scaleX": 1, "scaleY": 1, "path": commands, **fields}


def test_a_stroke_recorded_in_chromium_covers_the_ink_of_its_picture():
    """benchmarks/recorded_stroke.json holds what the canvas sent after a real mouse stroke:
    the PNG and the Fabric objects. The map drawn from the objects lies on the PNG's ink."""
    stroke = load_template()["stroke"]
    (value,) = [json.loads(w.json_value) for w in stroke.rerun_script.widget_states.widgets if w.id.endswith("-canvas")]
    png = base64.b64decode(value["drawing"]["data"].split(",", 1)[1])
    alpha = np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"))[:, :, 3]
    labels = stroke_map(value["drawing"]["raw"], alpha.shape)
    inked = alpha > 64
    assert labels is not None and set(np.unique(labels)) == {0, 1}
    assert (labels[inked] == 1).mean() > 0.99, "the stroke's ink is the stroke's"
    assert (labels == 1).sum() < 2 * inked.sum(), "and not much more"


def test_each_stroke_is_named_in_drawing_order_a_later_one_over_an_earlier():
    down = path([(100, 40), (100, 240)])
    across = path([(40, 140), (300, 140)])
    labels = stroke_map({"objects": [down, across]}, (280, 700))
    assert labels.shape == (280, 700) and labels.dtype == np.int32
    assert labels[60, 100] == 1 and labels[140, 250] == 2
    assert labels[140, 100] == 2, "where they cross, the later stroke"
    assert labels[60, 250] == 0 and labels[270, 600] == 0
    assert labels[140, 40 - 8 - 2] == 2, "a round end, as wide as the pen and a little more"


def test_a_scaled_or_left_anchored_stroke_lands_where_the_canvas_draws_it():
    scaled = path([(100, 100), (140, 100)], scaleX=2, scaleY=2)  # twice as long, about its centre (120, 100)
    labels = stroke_map({"objects": [scaled]}, (280, 700))
    assert labels[100, 82] == 1 and labels[100, 158] == 1 and labels[100, 200] == 0
    anchored = path([(300, 50), (300, 150)], originX="left", originY="top", left=300, top=50)
    labels = stroke_map({"objects": [anchored]}, (280, 700))
    assert labels[100, 300] == 1 and labels[100, 280] == 0


def test_no_usable_stroke_gives_no_map():
    assert stroke_map(None, (280, 700)) is None
    assert stroke_map({"objects": "paths"}, (280, 700)) is None
    assert stroke_map({"objects": []}, (280, 700)) is None
    assert stroke_map({"objects": [{"type": "Path"}]}, (280, 700)) is None  # no points (what tests send)
    bad = path([(100, 40), (100, 240)])
    bad["path"][1] = ["L", "x", float("nan")]
    assert stroke_map({"objects": [bad, {"type": "Rect"}]}, (280, 700)) is None


def test_a_curve_is_drawn_through_its_middle_not_only_its_ends():
    bend = path([(100, 100)])
    bend["path"] = [["M", 100, 100], ["Q", 200, 300, 300, 100]]  # its middle: (200, 200)
    labels = stroke_map({"objects": [bend]}, (280, 700))
    assert labels[200, 200] == 1


def test_an_earlier_stroke_keeps_its_own_ink_from_a_later_ones_fringe():
    first = path([(100, 40), (100, 240)])
    second = path([(100 + 8 + 8 + 2, 40), (118, 240)])  # 2 px of canvas between the two pens' edges
    labels = stroke_map({"objects": [first, second]}, (280, 700))
    assert (labels[140, 92:109] == 1).all() and (labels[140, 110:127] == 2).all()


def test_what_a_hostile_browser_could_send_gives_no_map_and_quickly():
    """The canvas value comes from the browser: numbers too big for a float, absurd pens or
    scales (a pen of 1e9 px took 81 s to draw), origins that are not words, too many strokes
    or points (each costs drawing time)."""
    shape = (280, 700)
    for fields in (
        {"strokeWidth": 1e300},
        {"strokeWidth": 10**400},
        {"scaleX": 1e300},
        {"scaleY": float("inf")},
        {"strokeWidth": True},
        {"scaleX": 2, "left": "0"},
    ):
        assert stroke_map({"objects": [path([(100, 40), (100, 240)], **fields)]}, shape) is None, fields
    huge = path([(100, 40)])
    huge["path"] = [["M", 10**30, 40], ["L", 100, 240]]
    assert stroke_map({"objects": [huge]}, shape) is None
    odd_origin = path([(100, 40), (100, 240)], originX=[1], scaleX=2)
    assert stroke_map({"objects": [odd_origin]}, shape) is not None, "an unknown origin is taken as the centre"
    assert stroke_map({"objects": [path([(100, 40), (100, 240)])] * 501}, shape) is None
    many = path([(100, 40)])
    many["path"] = [["M", 100, 40]] + [["L", 100 + i % 50, 40 + i % 200] for i in range(20_001)]
    assert stroke_map({"objects": [many]}, shape) is None
