"""The Draw page's Number mode, driven by Streamlit's AppTest with a real model.

Drawings are pen strokes on the wide canvas (tests/test_number.py's "23", the 2's base
running into the 3), injected as the value the canvas component sends.
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np
from test_draw_page import canvas_value, chart, charts, headers, infos, page, png
from test_number import FOUR_INTO_NINE, PEN, THREE, TWO, canvas
from test_strokes import path

from cnn.number import NumberReading


def number_page():
    at = page()
    at.run()
    at.segmented_control(key="mode").set_value("Number").run()
    assert not at.exception, at.exception
    return at


def draw(at, rgba):
    at.session_state["number_canvas"] = canvas_value(rgba)
    at.run()
    assert not at.exception, at.exception
    return at


def shown_number(at) -> str | None:
    for text in headers(at):
        if text.startswith("Number: "):
            return text.removeprefix("Number: ")
    return None


def test_a_drawn_number_shows_the_number_boxes_and_each_digits_28x28(good_run):
    at = number_page()
    assert at.title[0].value == "Draw a number"
    assert "Draw a number on the canvas" in infos(at)
    draw(at, canvas(strokes=[TWO, THREE]))
    assert shown_number(at) == "23"
    assert not at.warning and any("confident of every digit" in m.value for m in at.markdown)
    boxes = chart(at, "number_boxes")
    assert len(boxes["layout"]["shapes"]) == 2
    assert [a["text"] for a in boxes["layout"]["annotations"]] == ["2", "3"]
    tiles = sorted(c.key for c in charts(at) if c.key.startswith("number_digit_"))
    assert tiles == ["number_digit_0", "number_digit_1"]
    assert {c.value.split(" · ")[0] for c in at.caption if " · " in c.value} == {"2", "3"}
    assert any(re.search(r"Found, cut apart, prepared and read in \d+ ms\.", c.value) for c in at.caption)
    assert not at.get("toggle"), "the single-digit views are not offered for a number"


def test_an_unsure_digit_is_marked_and_the_rest_of_the_number_stands(good_run, monkeypatch):
    import cnn.number

    read = cnn.number.read_number

    def doubtful_second_digit(classifier, image, strokes=None):
        reading = read(classifier, image, strokes)
        first, second = reading.digits
        p = np.full(10, 0.02, np.float32)
        p[3], p[8] = 0.45, 0.39
        doubtful = dataclasses.replace(second, prediction=dataclasses.replace(second.prediction, probabilities=p))
        return NumberReading(reading.ink, (first, doubtful))

    monkeypatch.setattr(cnn.number, "read_number", doubtful_second_digit)
    at = draw(number_page(), canvas(strokes=[TWO, THREE]))
    assert shown_number(at) == "23"
    (warning,) = at.warning
    assert "digit 2: 3 (45%) or 8 (39%)" in warning.value and "digit 1" not in warning.value
    assert "leave a gap" not in warning.value, "a digit as narrow as one is no touching pair"
    boxes = chart(at, "number_boxes")
    assert [a["text"] for a in boxes["layout"]["annotations"]] == ["2", "3?"]
    assert [s["line"]["dash"] for s in boxes["layout"]["shapes"]] == ["solid", "dash"]


def test_an_unsure_digit_as_wide_as_two_asks_for_a_gap_in_case_it_is_two(good_run, monkeypatch):
    import cnn.number

    read = cnn.number.read_number

    def two_read_as_one_unsure_digit(classifier, image, strokes=None):
        first, second = read(classifier, image, strokes).digits
        p = np.full(10, 0.05, np.float32)
        p[8], p[3] = 0.35, 0.2
        top, left = min(first.box[0], second.box[0]), first.box[1]
        bottom, right = max(first.box[2], second.box[2]), second.box[3]
        one = cnn.number.ReadDigit((top, left, bottom, right), dataclasses.replace(first.prediction, probabilities=p))
        return NumberReading(np.zeros((280, 700), np.float32), (one,))

    monkeypatch.setattr(cnn.number, "read_number", two_read_as_one_unsure_digit)
    at = draw(number_page(), canvas(strokes=[TWO, THREE]))
    (warning,) = at.warning
    assert "digit 1: 8 (35%) or 3 (20%)" in warning.value
    assert "If digit 1 is really two digits that touch, leave a gap between them." in warning.value


def test_a_drawing_is_read_by_the_strokes_the_canvas_sends(good_run):
    """The canvas sends its Fabric.js paths with the picture: a 4 whose bar runs into a 9 is
    one blob of ink, but three strokes, grouped into two digits."""
    value = canvas_value(canvas(strokes=FOUR_INTO_NINE))
    value["drawing"]["raw"]["objects"] = [path(points, pen=PEN) for points in FOUR_INTO_NINE]
    at = number_page()
    at.session_state["number_canvas"] = value
    at.run()
    assert not at.exception, at.exception
    assert shown_number(at) == "49"
    assert any("your 3 strokes" in c.value for c in at.caption)


def test_a_photo_of_a_number_is_read_in_number_mode(good_run):
    at = number_page()
    paper = 230 - (canvas(strokes=[TWO, THREE])[:, :, 3] * 0.8).astype(np.uint8)  # dark ink on grey paper
    at.file_uploader(key="upload").set_value(("number.png", png(paper), "image/png")).run()
    assert not at.exception and not at.error
    assert shown_number(at) == "23"


def test_a_blank_or_specked_number_canvas_asks_for_a_number_and_digit_mode_still_works(good_run):
    at = number_page()
    draw(at, np.zeros((280, 700, 4), np.uint8))
    assert "Draw a number on the canvas" in infos(at) and shown_number(at) is None
    draw(at, canvas(dots=[(350, 140, 2)]))
    assert "No number found in the drawing" in infos(at) and not charts(at)

    at.segmented_control(key="mode").set_value("Digit").run()
    assert at.title[0].value == "Draw a digit"
    one = np.zeros((280, 280, 4), np.uint8)
    one[40:240, 130:150, 3] = 255
    at.session_state["canvas"] = canvas_value(one)
    at.run()
    assert any(h.startswith("Prediction: ") for h in headers(at)) and shown_number(at) is None
