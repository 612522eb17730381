"""Reading a whole number: the drawing split into digits (cnn.number), each read the MNIST way.

Drawings are pen strokes on the Draw page's wide 700x280 transparent canvas; the reading
tests use drawn digits from the project's drawn-digit set (cnn.handwriting), not MNIST.
"""

from __future__ import annotations

import numpy as np
import pytest
from images import rgba_from_alpha
from PIL import Image, ImageDraw

from cnn.number import CLEAN, MAYBE_TWO, SURE, NumberReading, ReadDigit, digit_height, read_number, split_digits
from cnn.predict import Prediction
from cnn.preprocess import SIZE, prepare, prepare_ink

WIDE, HIGH = 700, 280
PEN = 16


def canvas(strokes=(), ellipses=(), dots=(), width: int = WIDE) -> np.ndarray:
    """A transparent RGBA canvas with black pen strokes (polylines), ellipse outlines
    (left, top, right, bottom) and filled dots (x, y, radius)."""
    img = Image.new("L", (width, HIGH), 0)
    draw = ImageDraw.Draw(img)
    for points in strokes:
        draw.line(points, fill=255, width=PEN, joint="curve")
        for x, y in (points[0], points[-1]):
            draw.ellipse((x - PEN / 2, y - PEN / 2, x + PEN / 2, y + PEN / 2), fill=255)
    for box in ellipses:
        draw.ellipse(box, outline=255, width=PEN)
    for x, y, r in dots:
        draw.ellipse((x - r, y - r, x + r, y + r), fill=255)
    return rgba_from_alpha(np.asarray(img))


def one(x: int) -> list:
    return [[(x, 50), (x, 230)]]


def spans(pieces) -> list[tuple[int, int]]:
    return [(p.box[1], p.box[3]) for p in pieces]


# ---------------------------------------------------------------------------------------
# Splitting
# ---------------------------------------------------------------------------------------


def test_digits_apart_are_found_left_to_right_each_with_its_own_ink():
    image = canvas(strokes=one(300) + one(60), ellipses=[(140, 50, 240, 230)])
    pieces = split_digits(image)
    assert len(pieces) == 3
    (l1, r1), (l0, r0), (l2, r2) = spans(pieces)
    assert l1 <= 60 - PEN / 2 + 1 and r1 >= 60 + PEN / 2 - 1
    assert 139 <= l0 <= 141 and 239 <= r0 <= 241
    assert l2 <= 300 - PEN / 2 + 1 and r2 >= 300 + PEN / 2 - 1
    for piece in pieces:
        top, left, bottom, right = piece.box
        assert piece.ink.shape == (bottom - top, right - left)
        assert piece.ink.max() == 1.0
    np.testing.assert_array_equal(pieces[1].ink > 0.5, image[50:231, 140:241, 3] > 127)


def test_digits_drawn_in_two_strokes_are_kept_whole():
    four = [[(100, 50), (60, 170), (170, 170)], [(140, 60), (140, 240)]]  # the upright crosses the bar
    five = [[(270, 95), (265, 140), (330, 140), (345, 190), (320, 235), (265, 225)], [(275, 45), (350, 45)]]
    seven = [[(430, 50), (540, 50)], [(540, 75), (480, 240)]]  # the stem starts below the bar
    pieces = split_digits(canvas(strokes=four + five + seven))
    assert len(pieces) == 3
    (l4, r4), (l5, r5), (l7, r7) = spans(pieces)
    assert l4 <= 53 and r4 >= 177  # the bar's ends
    assert pieces[1].box[0] <= 38 and pieces[1].box[2] >= 240, "the five keeps its separate top bar"
    assert l7 <= 423 and r7 >= 547 and pieces[2].box[0] <= 43 and pieces[2].box[2] >= 247


def test_a_dot_between_digits_and_specks_are_dropped():
    image = canvas(strokes=one(100) + one(400), dots=[(250, 225, 10), (550, 140, 3), (620, 30, 2)])
    pieces = split_digits(image)
    assert len(pieces) == 2 and spans(pieces)[0][1] < 200 < spans(pieces)[1][0]


def test_an_empty_canvas_or_a_lone_speck_has_no_digits(good_run):
    from cnn.predict import classifier_for

    blank = np.zeros((HIGH, WIDE, 4), np.uint8)
    speck = canvas(dots=[(350, 140, 2)])
    assert split_digits(blank) == [] and split_digits(speck) == []
    classifier = classifier_for(good_run)
    assert read_number(classifier, blank) is None and read_number(classifier, speck) is None


TWO = [(110, 95), (140, 60), (190, 55), (225, 85), (215, 130), (110, 228), (250, 228)]
THREE = [(262, 60), (340, 55), (365, 90), (320, 135), (370, 165), (370, 205), (330, 235), (258, 222)]


def test_touching_digits_are_cut_where_the_ink_is_thinnest(good_run):
    from cnn.predict import classifier_for

    # The 2's base runs into the 3's last stroke at x ~ 250-258: one blob of ink.
    image = canvas(strokes=[TWO, THREE])
    (piece,) = split_digits(image)
    assert piece.too_wide and len(piece.cuts) >= 2, "too wide for one digit: ways to cut it"
    thinnest = min(piece.cuts, key=lambda cut: cut.ink_crossed)
    (l2, r2), (l3, r3) = spans(thinnest.parts)
    assert l2 == 102 and r3 == 379 and 240 <= r2 <= 266 and 240 <= l3 <= 266, "through the contact"
    assert thinnest.ink_crossed < 1.5, "about one stroke crossed"

    reading = read_number(classifier_for(good_run), image)
    assert reading.number == "23"
    assert [d.box for d in reading.digits] == [part.box for part in thinnest.parts]


def test_digits_a_hair_apart_are_parted_by_a_cut_through_no_ink(good_run):
    from cnn.predict import classifier_for

    # A slanted 1 and a 7 whose inks come 2 px apart: one piece on the stroke grid, as narrow
    # as one digit, but a cut between them crosses no ink at all.
    image = canvas(strokes=[[(112, 50), (96, 230)], [(130, 50), (220, 50)], [(220, 50), (165, 230)]])
    (piece,) = split_digits(image)
    (cut,) = piece.cuts
    assert cut.ink_crossed < 0.05 and not piece.too_wide
    assert spans(cut.parts) == [(88, 121), (122, 229)]
    reading = read_number(classifier_for(good_run), image)
    assert reading.number == "17" and [d.box for d in reading.digits] == [part.box for part in cut.parts]


# ---------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def drawn_digits():
    """Neat canvas-style digits of the drawn-digit set: (ink crops, labels)."""
    from cnn.handwriting import load_drawn_set

    drawn = load_drawn_set()
    chosen = np.flatnonzero((drawn.source == "neat") & (drawn.style == "rgba"))
    crops, labels = [], []
    for i in chosen:
        p = prepare(drawn.image(i))
        t, left, b, r = p.box
        crops.append(p.ink[t:b, left:r])
        labels.append(int(drawn.labels[i]))
    return crops, np.array(labels)


def number_canvas(crops, gap: int | list = 30, height: int = 180, drops=None) -> np.ndarray:
    """Digit crops scaled to `height`, placed left to right `gap` px apart on the wide canvas
    (a list: one gap after each digit but the last, None for touching: the two inks overlap
    by 2 px where they come closest), each `drops[i]` px lower than the first."""
    scaled = []
    for crop in crops:
        h, w = crop.shape
        scaled.append(np.asarray(Image.fromarray(crop).resize((max(1, round(w * height / h)), height), Image.BILINEAR)))
    gaps = gap if isinstance(gap, list) else [gap] * (len(crops) - 1)
    drops = drops or [0] * len(crops)
    alpha = np.zeros((HIGH, WIDE), np.float32)
    x = 40
    for i, digit in enumerate(scaled):
        view = alpha[50 + drops[i] : 50 + drops[i] + height, x : x + digit.shape[1]]
        np.maximum(view, digit, out=view)
        if i < len(gaps):
            x += digit.shape[1] + (
                _touching(digit, drops[i], scaled[i + 1], drops[i + 1]) if gaps[i] is None else gaps[i]
            )
    assert x + scaled[-1].shape[1] <= WIDE - 20, "the number fits on the canvas"
    return rgba_from_alpha(np.round(np.clip(alpha, 0, 1) * 255).astype(np.uint8))


def _touching(a: np.ndarray, a_top: int, b: np.ndarray, b_top: int) -> int:
    """The gap from a's box to b's that makes their inks overlap by 2 px where they come closest."""
    closest = min(
        (a.shape[1] - 1 - np.flatnonzero(a[y - a_top] > 0.5)[-1]) + np.flatnonzero(b[y - b_top] > 0.5)[0]
        for y in range(max(a_top, b_top), min(a_top + a.shape[0], b_top + b.shape[0]))
        if (a[y - a_top] > 0.5).any() and (b[y - b_top] > 0.5).any()
    )
    return -int(closest) - 2


def test_a_drawn_number_is_read_in_one_batch_with_its_boxes(good_run, drawn_digits, monkeypatch):
    from cnn.predict import classifier_for

    classifier = classifier_for(good_run)
    crops, labels = drawn_digits
    # Digits the model reads right on their own: this test is about the splitting.
    right = [i for i in range(len(crops)) if classifier.classify(number_canvas([crops[i]])).digit == labels[i]]
    picks = [next(i for i in right if labels[i] == d) for d in (2, 0, 2, 6)]
    batches = []
    probabilities = classifier.probabilities
    monkeypatch.setattr(classifier, "probabilities", lambda x: batches.append(len(x)) or probabilities(x))

    reading = read_number(classifier, number_canvas([crops[i] for i in picks]))
    assert reading.number == "2026"
    assert batches[0] == 4, "one call to the model for the four pieces"
    assert len(batches) <= 2, "and at most one more for the parts of every way to cut those it doubts"
    lefts = [d.box[1] for d in reading.digits]
    assert lefts == sorted(lefts) and lefts[0] >= 38
    for d in reading.digits:
        assert d.prediction.prepared.image.shape == (SIZE, SIZE)
        assert abs(float(d.prediction.probabilities.sum()) - 1) < 1e-4


def test_digits_the_model_is_sure_of_are_not_looked_at_for_cuts(good_run, drawn_digits, monkeypatch):
    """Weighing the ways to cut a piece is most of a number's time: a piece the model reads
    as one digit with SURE confidence, and that no path parts through next to no ink, is one."""
    import cnn.number
    from cnn.predict import classifier_for

    classifier = classifier_for(good_run)
    crops, labels = drawn_digits
    sure = [i for i in range(len(crops)) if classifier.classify(number_canvas([crops[i]])).confidence >= SURE]
    assert len(sure) >= 4, "the test needs digits the model is sure of"
    weighed = []
    split = cnn.number._split_touching
    monkeypatch.setattr(cnn.number, "_split_touching", lambda ps, **kw: weighed.extend(ps) or split(ps, **kw))

    reading = read_number(classifier, number_canvas([crops[i] for i in sure[:4]]))
    assert reading.number == "".join(str(labels[i]) for i in sure[:4])
    assert weighed == []


def test_a_part_that_two_ways_to_cut_share_is_prepared_once(good_run, drawn_digits, monkeypatch):
    """A chain of touching digits is one piece too wide for one digit; its ways to be cut
    share parts (the same box and ink), which are prepared and read once."""
    import cnn.number
    from cnn.predict import classifier_for

    classifier = classifier_for(good_run)
    crops, _ = drawn_digits
    chain = number_canvas([crops[i] for i in (3, 40, 77)], gap=[None, None], height=120)
    (piece,) = split_digits(chain)
    assert piece.too_wide
    parts = [(q.box, q.ink.tobytes()) for q in cnn.number._every_part(piece)]
    assert len(set(parts)) < len(parts), "the test needs cuts that share parts"
    prepared = []
    prepare_ink = cnn.number.prepare_ink
    monkeypatch.setattr(cnn.number, "prepare_ink", lambda ink: prepared.append(ink.tobytes()) or prepare_ink(ink))

    assert read_number(classifier, chain) is not None
    assert len(prepared) == len(set(prepared)), "no ink prepared twice"


# A 4 in two strokes whose bar runs on into a 9's loop: one blob of connected ink.
FOUR_INTO_NINE = [
    [(170, 40), (110, 140), (262, 140)],
    [(205, 60), (205, 250)],
    [(330, 105), (300, 60), (262, 72), (250, 115), (280, 150), (325, 130), (330, 105), (322, 250)],
]


def stroke_labels(strokes, shape=(HIGH, WIDE), reach=PEN / 2 + 4) -> np.ndarray:
    """Which stroke drew each pixel (1, 2, ...; a later one over an earlier), as the page
    makes it from the canvas's strokes (ui/strokes.py)."""
    img = Image.new("I", (shape[1], shape[0]), 0)
    draw = ImageDraw.Draw(img)
    for k, points in enumerate(strokes, start=1):
        draw.line(points, fill=k, width=round(2 * reach), joint="curve")
        for x, y in (points[0], points[-1]):
            draw.ellipse((x - reach, y - reach, x + reach, y + reach), fill=k)
    return np.asarray(img, np.int32)


def test_digits_whose_strokes_touch_are_two_pieces_by_their_strokes(good_run, monkeypatch):
    """The canvas knows its strokes: grouped by stroke (those of one digit overlap left to
    right), the 4 and the 9 are two digits with no cut to look for."""
    import cnn.number
    from cnn.number import _pieces
    from cnn.predict import classifier_for
    from cnn.preprocess import ink_map

    image = canvas(strokes=FOUR_INTO_NINE)
    labels = stroke_labels(FOUR_INTO_NINE)
    assert len(_pieces(ink_map(image))[0]) == 1, "one blob of connected ink"
    pieces, grouped = _pieces(ink_map(image), labels)
    assert grouped == 3 and len(pieces) == 2
    (four, nine) = pieces
    assert four.box[3] < 275 and nine.box[1] > 235, "the 4's bar is the 4's, the loop the 9's"

    classifier = classifier_for(good_run)
    weighed = []
    split = cnn.number._split_touching
    monkeypatch.setattr(cnn.number, "_split_touching", lambda ps, **kw: weighed.extend(ps) or split(ps, **kw))
    reading = read_number(classifier, image, labels)
    assert reading.number == "49" and reading.strokes == 3
    assert all(p.ink.shape[1] < 200 for p in weighed), "the blob as a whole is never weighed for cuts"


def test_strokes_that_do_not_cover_the_ink_are_not_used():
    """Strokes that are not the picture's (a stroke missing, a map out of step) would lose
    ink: the reader goes by connected ink instead."""
    from cnn.number import _pieces
    from cnn.preprocess import ink_map

    image = canvas(strokes=FOUR_INTO_NINE)
    ink = ink_map(image)
    by_ink, _ = _pieces(ink)
    for labels in (stroke_labels(FOUR_INTO_NINE[:2]), np.zeros((HIGH, WIDE), np.int32)):
        pieces, grouped = _pieces(ink, labels)
        assert grouped == 0 and [p.box for p in pieces] == [p.box for p in by_ink]


def test_ink_no_stroke_covers_is_kept_as_strokes_of_its_own():
    """A stroke the page could not read is in the picture but not in the map: its ink stays."""
    from cnn.number import _pieces
    from cnn.preprocess import ink_map

    seven = [(420, 50), (520, 50), (460, 240)]
    eight = [(600, 140), (570, 100), (600, 55), (640, 100), (600, 140), (560, 190), (600, 240), (650, 190), (600, 140)]
    short_one = [(680, 170), (680, 240)]  # in the picture, not in the map
    ink = ink_map(canvas(strokes=[*FOUR_INTO_NINE, seven, eight, short_one]))
    pieces, grouped = _pieces(ink, stroke_labels([*FOUR_INTO_NINE, seven, eight]))
    assert grouped == 6, "the five strokes of the map, and the 1 as one more"
    assert [p.box[1] // 10 for p in pieces] == [10, 24, 41, 55, 67], "4, 9, 7, 8 and the 1"


def test_a_stroke_map_must_be_integers_of_the_images_shape():
    with pytest.raises(ValueError, match="stroke map"):
        read_number(None, canvas(strokes=[[(100, 50), (100, 230)]]), np.zeros((10, 10), np.int32))


def test_a_piece_the_model_is_sure_of_is_still_cut_through_next_to_no_ink():
    """Two digits joined by a faint hairline are one piece; whatever the model says of it,
    a path parts them through next to no ink, so their ways to be cut are weighed."""
    from cnn.number import _one_digit, _pieces

    ink = np.zeros((HIGH, WIDE), np.float32)
    ink[60:200, 100:112] = 1  # a 1
    ink[60:200, 160:172] = 1  # another, 48 px to its right
    alone, _ = _pieces(ink[:, :140])
    ink[130, 112:160] = 0.5  # a faint hairline between them
    (pair,), _ = _pieces(ink)
    certain = np.eye(10, dtype=np.float32)[1]
    read = {id(p): Prediction(certain, prepare_ink(p.ink)) for p in (*alone, pair)}
    assert _one_digit(alone, read) == [True]
    assert _one_digit([pair], read) == [False]


def test_a_touching_pair_as_narrow_as_one_digit_is_cut_when_the_model_reads_two(good_run, drawn_digits):
    from cnn.predict import classifier_for

    classifier = classifier_for(good_run)
    crops, labels = drawn_digits
    # Neat drawn digits pushed together until their inks touch: a 1 and a 7, a 6 and a 1. Each
    # pair is one piece no wider than one digit could be, and the one way to cut it crosses
    # ink: it used to be read as one digit, however sure the model was of the parts.
    for left, right in ((11, 62), (54, 11)):
        image = number_canvas([crops[left], crops[right]], gap=[None])
        (piece,) = split_digits(image)
        h, w = piece.ink.shape
        assert w <= MAYBE_TWO * h and not piece.too_wide
        (cut,) = piece.cuts
        assert cut.ink_crossed >= CLEAN, "not a clean cut: the model and the rule decide"
        reading = read_number(classifier, image)
        assert reading.number == f"{labels[left]}{labels[right]}"
        assert [d.box for d in reading.digits] == [part.box for part in cut.parts]


def test_a_digit_drawn_alone_is_not_cut(good_run, drawn_digits):
    from cnn.predict import classifier_for

    classifier = classifier_for(good_run)
    crops, _ = drawn_digits
    counts = [len(read_number(classifier, number_canvas([crop])).digits) for crop in crops]
    assert counts == [1] * len(crops), "every neat digit (1s and 7s too, though narrow pieces may be cut) is one"


def test_a_pair_wide_for_the_numbers_digits_is_cut_though_not_alone(good_run, drawn_digits):
    from cnn.predict import classifier_for

    classifier = classifier_for(good_run)
    crops, labels = drawn_digits
    # A 4 and a 9 touching, the 9 drawn 50 px lower: a piece a third taller than a digit, so
    # not that wide for its height. Alone it is read as one digit; between two digits of the
    # number it is wide against their height, and cut.
    four, nine, five, three = 33, 72, 40, 24
    assert [labels[i] for i in (four, nine, five, three)] == [4, 9, 5, 3]
    alone = number_canvas([crops[four], crops[nine]], gap=[None], height=150, drops=[0, 50])
    assert len(read_number(classifier, alone).digits) == 1
    image = number_canvas(
        [crops[i] for i in (five, four, nine, three)], gap=[30, None, 30], height=150, drops=[25, 0, 50, 25]
    )
    pieces = split_digits(image)
    assert len(pieces) == 3
    pair = pieces[1]
    assert pair.ink.shape[0] > 1.25 * 150 and digit_height(pair, pieces) < 1.05 * 150, "the others' height"
    assert digit_height(pair, [pair]) == pair.ink.shape[0], "alone: its own"
    assert read_number(classifier, image).number == "5493"


def test_an_unsure_digit_is_marked_not_the_whole_number():
    def digit(p_top: float, d: int) -> ReadDigit:
        p = np.full(10, (1 - p_top) / 9, np.float32)
        p[d] = p_top
        return ReadDigit((0, 0, 1, 1), Prediction(p, None))

    reading = NumberReading(np.zeros((1, 1), np.float32), (digit(0.99, 4), digit(0.4, 2), digit(0.95, 7)))
    assert reading.number == "427"
    assert reading.unsure == (1,)


# ---------------------------------------------------------------------------------------
# The command line
# ---------------------------------------------------------------------------------------


def test_predict_number_prints_each_files_number(good_run, runs_dir, tmp_path):
    import json
    import os
    import subprocess
    import sys

    drawn = tmp_path / "23.png"
    Image.fromarray(canvas(strokes=[TWO, THREE])).save(drawn)
    paper = tmp_path / "23-on-paper.png"  # dark ink on white, as a scan would be
    Image.fromarray(255 - canvas(strokes=[TWO, THREE])[:, :, 3]).save(paper)
    blank = tmp_path / "blank.png"
    Image.new("L", (300, 100), 255).save(blank)
    files = [str(drawn), str(paper), str(blank)]

    def cli(*args):
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env = {**os.environ, "CNN_RUNS_DIR": str(runs_dir)}
        return subprocess.run(
            [sys.executable, "-m", "cnn", "predict", "--number", *args],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    out = cli("--json", *files)
    assert out.returncode == 1, "one file had no digits"
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert [line["file"] for line in lines] == files
    for line in lines[:2]:
        assert line["number"] == "23"
        assert [d["digit"] for d in line["digits"]] == [2, 3]
        for d in line["digits"]:
            assert len(d["probabilities"]) == 10 and abs(sum(d["probabilities"]) - 1) < 1e-3
            assert set(d["box"]) == {"top", "left", "bottom", "right"}
        assert line["digits"][0]["box"]["left"] == 102 and line["digits"][1]["box"]["right"] == 379
    assert lines[2]["number"] is None and "no digits" in lines[2]["error"]

    out = cli(str(drawn))
    assert out.returncode == 0 and out.stdout.startswith(f"{drawn}: 23  (2 ")
