"""A drawn number -> its digits, found and cut apart, each read the MNIST way.

The model reads one digit at a time, so a number has to be split first:

1. ink map     the same as for one digit (`preprocess.ink_map`)
2. strokes     connected ink, found on a grid of cells a few pixels wide (the component
               finder `preprocess` uses for specks); specks dropped
3. digits      strokes whose spans overlap left to right are one digit (a 4, 5 or 7 drawn
               in two strokes); a mark much shorter than the digits (a dot, a dash) joins
               a digit it almost touches (a broken stroke) and is dropped otherwise
4. reading     each piece is prepared like a single digit (`preprocess.prepare_ink`), and
               all of them are classified in one batch; a piece the model is sure of
               (SURE), no wider than one digit can be, is one digit, unless a path
               parts it through next to no ink
5. touching    any other piece may be touching digits: it is cut along the top-to-bottom
               path that crosses the least ink, one path near each of a few places across
               it (one anywhere across a piece as narrow as a digit); every part of every
               cut is prepared and classified in a second batch, and the model judges
               which cut, and, for a piece a digit could be as wide as, whether to cut at
               all, the other digits of the number giving the height a digit has; a path
               that crosses next to no ink always cuts

Boxes are (top, left, bottom, right) in input pixels, bottom/right exclusive.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from cnn.predict import Prediction
from cnn.preprocess import (
    CROP_LEVEL,
    MIN_DIGIT_INK,
    STROKE_LEVEL,
    Prepared,
    _pool,
    _strokes,
    ink_map,
    padded_to,
    prepare_ink,
)

if TYPE_CHECKING:
    from cnn.predict import Classifier

GRID_CELLS = 96  # strokes are found on a grid of about this many cells across the shorter side
SPECK = 0.02  # a stroke with less ink than this share of the biggest stroke is a speck
OVERLAP = 0.5  # strokes whose spans overlap by this share of the narrower one are one digit
DOT_HEIGHT = 0.3  # a mark shorter than this share of the tallest digit is no digit of its own ...
NEAR = 0.04  # ... it joins a digit within this share of that height (a broken stroke), else it goes
MAYBE_TWO = 0.8  # a piece wider than this many times its height is cut near a few places ...
WIDE = 1.4  # ... one wider than this is two digits or more: no digit is that wide
MIN_WIDTH = 0.2  # a cut leaves each side at least this share of the height wide
CUT_AT = (0.3, 0.4, 0.5, 0.6, 0.7)  # candidate cuts near these shares of the width ...
WIDE_CUT_AT = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)  # ... of a piece that is too wide for one digit
CUT_WINDOW = 0.12  # each within this share of the width either side
PATH_ROWS = 64  # cut paths are found on pairs of rows for pieces taller than this
CLEAN = 0.3  # a cut crossing less ink than this (in pen widths) parts two digits whatever their width:
# none of the 1,920 drawn digits of the pool has one, a sixth of touching or gapless pairs do
CLEAN_MIN_WIDTH = 0.1  # ... leaving each side at least this share of the height (narrow pairs: 17, 21);
# a piece as narrow as one digit has one candidate cut, anywhere between these margins
STROKES_COVER = 0.95  # the canvas's strokes are used when they cover this share of the inked cells
SURE = 0.999  # a piece the model reads as one digit this surely is one digit: no cut is looked for
CROSSING = 4.0  # a piece too wide for one digit: cut where the least sure digit is surest, plus this per stroke crossed
TWO_CROSSING = 2.0  # any other: the cut whose parts' doubts (log scale) sum least, plus this per stroke crossed
MOST_CROSSED = 4.0  # strokes crossed count up to this many in the rule below
# One digit or two touching ones, from (width / the height of the number's digits, strokes
# the best cut crosses, the model's doubt about the cut's parts (summed) less its doubt about
# the whole, its doubt about the whole, its doubt about the least sure part, the narrower
# part's width / the piece's height, 1): a logistic rule fitted on numbers composed as in
# benchmarks/number_accuracy.py but with --seed 1 (touching, 0 and 5 px gaps) and on the
# drawn digits alone (the fast-default model 20261129-140055-cdebc9).
TWO_WEIGHTS = (6.803, -0.686, -0.097, 0.326, -0.187, 3.186, -7.892)
Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class DigitPiece:
    """One digit cut out of a number."""

    box: Box  # where it is in the input
    ink: np.ndarray  # (bottom - top, right - left) float32: its own ink, everything else 0
    cuts: tuple[Cut, ...] = ()  # if it may be touching digits: ways to cut it, for `read_number`
    # to judge with the model
    too_wide: bool = False  # too wide for one digit: it is cut whatever the model says


@dataclass(frozen=True)
class Cut:
    """A way to cut a piece into touching digits."""

    parts: tuple[DigitPiece, ...]  # left to right (two, or more where a part was too wide)
    ink_crossed: float  # the ink the cut goes through, in pen widths (about 1 per stroke crossed)


@dataclass(frozen=True)
class ReadDigit:
    box: Box  # where the digit was found in the input
    prediction: Prediction  # its probabilities, and the 28x28 they were computed from


@dataclass(frozen=True)
class NumberReading:
    ink: np.ndarray  # the whole input's ink map
    digits: tuple[ReadDigit, ...]  # left to right
    strokes: int = 0  # how many of the canvas's strokes the digits were grouped from (0: by connected ink)

    @property
    def number(self) -> str:
        return "".join(str(d.prediction.digit) for d in self.digits)

    @property
    def unsure(self) -> tuple[int, ...]:
        """The positions of the digits the model is not sure about."""
        return tuple(i for i, d in enumerate(self.digits) if d.prediction.unsure)

    @property
    def wide(self) -> tuple[int, ...]:
        """The positions of the digits wide enough to be two touching ones read as one:
        wider than MAYBE_TWO times the number's median digit height."""
        height = float(np.median([bottom - top for top, _, bottom, _ in (d.box for d in self.digits)]))
        return tuple(i for i, d in enumerate(self.digits) if d.box[3] - d.box[1] > MAYBE_TWO * height)


def read_number(classifier: Classifier, image: np.ndarray, strokes: np.ndarray | None = None) -> NumberReading | None:
    """Split ``image`` into digits and read them; None when there is no digit. The pieces go
    to the model in one batch; then the ways to cut those it is not sure are one digit (and
    those too wide for one), every part of every way in a second batch.

    ``strokes`` (a drawing on the canvas, which knows its strokes): an integer map of the
    image's height and width naming the stroke that drew each pixel (0: none; a later
    stroke over an earlier one). Digits are then grouped from the strokes, not from
    connected ink, so that two digits whose strokes touch are two pieces, with no cut."""
    ink = ink_map(image)
    pieces, grouped = _pieces(ink, strokes)
    read: dict[int, Prediction] = {}
    _read(classifier, pieces, read)
    maybe_two = [i for i, one in enumerate(_one_digit(pieces, read)) if not one]
    for i, piece in zip(maybe_two, _split_touching([pieces[i] for i in maybe_two])):
        if id(pieces[i]) in read:
            read[id(piece)] = read.pop(id(pieces[i]))
        pieces[i] = piece
    _read(classifier, [part for i in maybe_two for part in _every_part(pieces[i]) if part is not pieces[i]], read)
    if not read:
        return None
    digits = [
        ReadDigit(part.box, read[id(part)])
        for piece in pieces
        for part in resolve(piece, read, digit_height(piece, pieces))
        if id(part) in read
    ]
    return NumberReading(ink=ink, digits=tuple(digits), strokes=grouped) if digits else None


def _read(classifier: Classifier, parts: list[DigitPiece], read: dict[int, Prediction]) -> None:
    """Prepare ``parts`` like single digits and read them in one batch, into ``read`` (by
    id; a part with no ink to prepare is left out). A part the same as one before it (the
    same box and ink: the ways to cut a piece too wide for one digit share a third of
    their parts) is prepared and read once."""
    batch: list[tuple[DigitPiece, Prepared]] = []
    by_box: dict[Box, DigitPiece] = {}
    twins: list[tuple[DigitPiece, DigitPiece]] = []
    for part in parts:
        first = by_box.setdefault(part.box, part)
        if first is not part and np.array_equal(first.ink, part.ink):
            twins.append((part, first))
            continue
        prepared = prepare_ink(part.ink)
        if prepared is not None:
            batch.append((part, prepared))
    if batch:
        probabilities = classifier.probabilities(np.stack([prepared.image for _, prepared in batch]))
        read.update((id(part), Prediction(p, prepared)) for (part, prepared), p in zip(batch, probabilities))
    read.update((id(part), read[id(first)]) for part, first in twins if id(first) in read)


def _one_digit(pieces: list[DigitPiece], read: dict[int, Prediction]) -> list[bool]:
    """Which of ``pieces`` are one digit without weighing ways to cut them: those the model
    reads as one digit with at least SURE confidence, no wider than one digit can be, and
    with no path across them through next to no ink (which would part two digits whatever
    the model says). The cut rule never cut another such piece of the 1,800 numbers of
    benchmarks/number_accuracy.py --seed 1; weighing the ways to cut (finding them, reading
    their parts) is most of a number's time."""
    sure = [
        id(p) in read and read[id(p)].confidence >= SURE and p.ink.shape[1] <= WIDE * p.ink.shape[0] for p in pieces
    ]
    across = [(i, window) for i in np.flatnonzero(sure) if (window := _across(pieces[i])) is not None]
    found = _cuts([(pieces[i], window) for i, window in across])
    for (i, _), cut in zip(across, found):
        sure[i] = cut is None or cut[2] >= CLEAN
    return sure


def _across(piece: DigitPiece) -> tuple[int, int] | None:
    """Where a cut anywhere across ``piece`` may go: CLEAN_MIN_WIDTH of its height from
    either side (None if it is too narrow for that)."""
    h, w = piece.ink.shape
    middle = math.ceil(CLEAN_MIN_WIDTH * h)
    return (middle, w - middle) if w - 2 * middle >= 1 else None


def digit_height(piece: DigitPiece, pieces: list[DigitPiece]) -> int:
    """How tall a digit of the number is, to judge how wide ``piece`` is against: the median
    height of the number's other pieces at least half as tall as it (touching digits set a
    little apart up and down make a taller piece than either), else its own height."""
    h = piece.ink.shape[0]
    others = [p.ink.shape[0] for p in pieces if p is not piece and p.ink.shape[0] >= 0.5 * h]
    return int(np.median(others)) if others else h


def _read_cuts(piece: DigitPiece, read: dict[int, Prediction]) -> list[Cut]:
    """The ways to cut ``piece`` whose parts the model has all read (a part with no ink to
    prepare was not)."""
    return [c for c in piece.cuts if all(id(part) in read for part in c.parts)]


def _doubt(prediction: Prediction) -> float:
    """How unsure the model is, on a log scale: log(1 - top probability)."""
    return math.log(max(1.0 - prediction.confidence, 1e-7))


def cut_evidence(
    piece: DigitPiece, read: dict[int, Prediction], height: int | None = None
) -> tuple[tuple[float, ...], Cut] | None:
    """For a piece that may be touching digits: the evidence `TWO_WEIGHTS` weighs (see there;
    ``height``: a digit's height in this number, by default the piece's own) and the best cut:
    the one whose parts' doubts sum least, each stroke it crosses counting against it; None
    without a cut whose parts were all read."""
    cuts = _read_cuts(piece, read)
    if not cuts:
        return None
    doubts = [[_doubt(read[id(part)]) for part in c.parts] for c in cuts]
    best = min(range(len(cuts)), key=lambda i: sum(doubts[i]) + TWO_CROSSING * cuts[i].ink_crossed)
    cut = cuts[best]
    whole = _doubt(read[id(piece)]) if id(piece) in read else 0.0
    h, w = piece.ink.shape
    narrower = min(part.ink.shape[1] for part in cut.parts)
    evidence = (
        w / (height or h),
        min(cut.ink_crossed, MOST_CROSSED),
        sum(doubts[best]) - whole,
        whole,
        max(doubts[best]),
        narrower / h,
    )
    return evidence, cut


def choose_cut(piece: DigitPiece, read: dict[int, Prediction], height: int | None = None) -> Cut | None:
    """How to cut ``piece`` into touching digits, or None to read it as one digit. A piece
    too wide for one digit is cut where the model is surest of every digit the cut leaves
    (a part that may itself be two digits decided in turn), each stroke crossed counting
    against the cut; any other is cut where a cut crosses next to no ink, else by the
    logistic rule (``height``: a digit's height in this number, see `digit_height`)."""
    if piece.too_wide:
        cuts = _read_cuts(piece, read)
        if not cuts:
            return None

        def cost(cut: Cut) -> float:
            digits = [q for part in cut.parts for q in resolve(part, read, height)]
            return max(_doubt(read[id(q)]) for q in digits if id(q) in read) + CROSSING * cut.ink_crossed

        return min(cuts, key=cost)
    clean = _clean(piece)
    if clean is not None:
        return clean
    found = cut_evidence(piece, read, height)
    if found is None:
        return None
    evidence, cut = found
    score = sum(weight * x for weight, x in zip(TWO_WEIGHTS, (*evidence, 1.0)))
    return cut if score > 0 else None


def _clean(piece: DigitPiece) -> Cut | None:
    """A cut of ``piece`` that crosses next to no ink, if it has one: two digits, no doubt."""
    return min((c for c in piece.cuts if c.ink_crossed < CLEAN), key=lambda c: c.ink_crossed, default=None)


def resolve(piece: DigitPiece, read: dict[int, Prediction], height: int | None = None) -> list[DigitPiece]:
    """The digits ``piece`` is read as: itself, or the parts of the cut chosen (in turn)."""
    cut = choose_cut(piece, read, height)
    return [piece] if cut is None else [q for part in cut.parts for q in resolve(part, read, height)]


def _every_part(piece: DigitPiece):
    """``piece`` and every part of every way to cut it, and of theirs."""
    yield piece
    for cut in piece.cuts:
        for part in cut.parts:
            yield from _every_part(part)


def split_digits(image: np.ndarray) -> list[DigitPiece]:
    """The digits of a drawn number, left to right (an empty list when nothing is drawn)."""
    return split_ink(ink_map(image))


def split_ink(ink: np.ndarray) -> list[DigitPiece]:
    """`split_digits` for an ink map already made."""
    return _split_touching(_pieces(ink)[0])


def _pieces(ink: np.ndarray, strokes: np.ndarray | None = None) -> tuple[list[DigitPiece], int]:
    """The digits of an ink map as found by their strokes, left to right, before any is
    cut (steps 2 and 3), and how many of ``strokes`` they were grouped from: which stroke
    drew each pixel, where the canvas says (see `read_number`); 0 when a stroke is
    connected ink (no ``strokes``, or strokes that do not cover the ink)."""
    h, w = ink.shape
    f = max(1, math.ceil(min(h, w) / GRID_CELLS))
    padded = padded_to(ink, f)
    gh, gw = padded.shape[0] // f, padded.shape[1] // f
    cells = _pool(padded, f, np.maximum) > STROKE_LEVEL
    if not cells.any():
        return [], 0
    drawn = None if strokes is None else np.where(cells, _pool(_labels_padded(strokes, ink.shape, f), f, np.maximum), 0)
    by_strokes = drawn is not None and np.count_nonzero(drawn) >= STROKES_COVER * np.count_nonzero(cells)
    if by_strokes:
        rows, starts, ends, comp = _labelled_runs(drawn)
        if not (drawn > 0).all(where=cells):  # ink no stroke covers: connected, as strokes of its own
            more = _strokes(cells & (drawn == 0))
            rows, starts, ends = (np.concatenate([a, b]) for a, b in zip((rows, starts, ends), more[:3]))
            comp = np.concatenate([comp, more[3] + int(comp.max()) + 1])
    else:  # no strokes, or not the drawing's (ink they do not cover): connected ink
        rows, starts, ends, comp = _strokes(cells)
    row_mass = np.zeros((gh, gw + 1))
    np.cumsum(_pool(padded, f, np.add), axis=1, out=row_mass[:, 1:])
    n = int(comp.max()) + 1
    mass = np.bincount(comp, weights=row_mass[rows, ends] - row_mass[rows, starts], minlength=n)
    if mass.max() < MIN_DIGIT_INK * min(h, w):
        return [], 0
    spans = np.zeros((n, 4), np.int64)  # top, left, bottom, right in cells
    spans[:, :2] = [gh, gw]
    np.minimum.at(spans[:, 0], comp, rows)
    np.minimum.at(spans[:, 1], comp, starts)
    np.maximum.at(spans[:, 2], comp, rows + 1)
    np.maximum.at(spans[:, 3], comp, ends)

    group = _group(spans, mass >= SPECK * mass.max())
    labels = np.full(gh * gw, -1, np.int64)
    lengths = ends - starts
    first = np.cumsum(lengths) - lengths
    offsets = np.arange(int(lengths.sum())) - np.repeat(first, lengths)
    labels[np.repeat(rows * gw + starts, lengths) + offsets] = np.repeat(group[comp], lengths)
    labels = labels.reshape(gh, gw)

    pieces = [_cut_out(ink, labels, g, f) for g in range(int(group.max()) + 1)]
    kept = sorted((p for p in pieces if p is not None), key=lambda p: (p.box[1] + p.box[3], p.box[0]))
    return kept, n if by_strokes else 0


def _labels_padded(strokes: np.ndarray, shape: tuple[int, int], f: int) -> np.ndarray:
    """The stroke map padded to whole f x f cells as the ink is (kept integers: a float
    could merge two large labels)."""
    labels = np.asarray(strokes)
    if labels.shape != shape or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"a stroke map is integers of the image's shape {shape}, not {labels.dtype} {labels.shape}")
    return padded_to(labels, f)


def _labelled_runs(drawn: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """`_strokes` for a grid whose cells name their stroke (0: none): row runs of one
    stroke, and each run's stroke numbered 0..n-1."""
    gh, gw = drawn.shape
    padded = np.zeros((gh, gw + 2), drawn.dtype)
    padded[:, 1:-1] = drawn
    change = padded[:, 1:] != padded[:, :-1]  # (gh, gw + 1): a run may start or end before column c
    rows, starts = np.nonzero(change[:, :-1] & (padded[:, 1:-1] != 0))
    _, ends = np.nonzero(change & (padded[:, :-1] != 0))
    _, comp = np.unique(drawn[rows, starts], return_inverse=True)
    return rows, starts, ends, comp.reshape(-1)


def _group(spans: np.ndarray, kept: np.ndarray) -> np.ndarray:
    """Each stroke's digit (0..m-1), or -1 for specks and dots."""
    top, left, bottom, right = spans.T
    groups = [[int(i)] for i in np.flatnonzero(kept)]
    box = {g[0]: [top[g[0]], left[g[0]], bottom[g[0]], right[g[0]]] for g in groups}

    def union(a: list[int], b: list[int]) -> None:
        ba, bb = box.pop(b[0]), box[a[0]]
        box[a[0]] = [min(ba[0], bb[0]), min(ba[1], bb[1]), max(ba[2], bb[2]), max(ba[3], bb[3])]
        a += b

    # Strokes whose spans overlap left to right are one digit: merge neighbours, left to
    # right, until nothing changes (a merged digit is wider and may now overlap the next).
    changed = True
    while changed:
        changed = False
        groups.sort(key=lambda g: box[g[0]][1])
        merged: list[list[int]] = []
        for g in groups:
            if merged:
                a, b = box[merged[-1][0]], box[g[0]]
                overlap = min(a[3], b[3]) - max(a[1], b[1])
                if overlap > 0 and overlap >= OVERLAP * min(a[3] - a[1], b[3] - b[1]):
                    union(merged[-1], g)
                    changed = True
                    continue
            merged.append(g)
        groups = merged

    # Marks much shorter than the tallest digit: part of a digit they almost touch, else dots.
    tallest = max(box[g[0]][2] - box[g[0]][0] for g in groups)
    digits = [g for g in groups if box[g[0]][2] - box[g[0]][0] >= DOT_HEIGHT * tallest]
    for g in groups:
        if box[g[0]][2] - box[g[0]][0] >= DOT_HEIGHT * tallest:
            continue
        b = box[g[0]]
        gaps = [max(0, b[1] - box[d[0]][3], box[d[0]][1] - b[3]) for d in digits]
        nearest = int(np.argmin(gaps))
        if gaps[nearest] <= NEAR * tallest:
            union(digits[nearest], g)

    out = np.full(len(spans), -1, np.int64)
    for i, g in enumerate(sorted(digits, key=lambda g: box[g[0]][1])):
        out[g] = i
    return out


def _cut_out(ink: np.ndarray, labels: np.ndarray, g: int, f: int) -> DigitPiece | None:
    """Digit ``g``'s own ink: its cells grown by one (the faint edges of its strokes), less
    any other digit's cells, cropped to the ink."""
    mine = labels == g
    ys, xs = np.flatnonzero(mine.any(axis=1)), np.flatnonzero(mine.any(axis=0))
    t, b = max(0, ys[0] - 1), min(labels.shape[0], ys[-1] + 2)
    le, r = max(0, xs[0] - 1), min(labels.shape[1], xs[-1] + 2)
    mine, others = mine[t:b, le:r], labels[t:b, le:r] >= 0
    grown = mine.copy()
    grown[1:] |= mine[:-1]
    grown[:-1] |= mine[1:]
    grown[:, 1:] |= grown[:, :-1].copy()
    grown[:, :-1] |= grown[:, 1:].copy()
    grown &= mine | ~others
    h, w = ink.shape
    window = ink[t * f : min(h, b * f), le * f : min(w, r * f)]
    mask = np.repeat(np.repeat(grown, f, axis=0), f, axis=1)[: window.shape[0], : window.shape[1]]
    return _tight(np.where(mask, window, np.float32(0)), t * f, le * f)


def _tight(ink: np.ndarray, top: int, left: int) -> DigitPiece | None:
    """A piece cropped to its ink (above CROP_LEVEL), or None if it has none."""
    strong = ink > CROP_LEVEL
    ys, xs = np.flatnonzero(strong.any(axis=1)), np.flatnonzero(strong.any(axis=0))
    if len(ys) == 0:
        return None
    crop = np.ascontiguousarray(ink[ys[0] : ys[-1] + 1, xs[0] : xs[-1] + 1])
    return DigitPiece((top + int(ys[0]), left + int(xs[0]), top + int(ys[-1]) + 1, left + int(xs[-1]) + 1), crop)


def _split_touching(pieces: list[DigitPiece], nested: bool = True) -> list[DigitPiece]:
    """Each piece with the ways to cut it into touching digits: for one as narrow as a digit,
    the cut across its middle (CLEAN_MIN_WIDTH from either side); for a wider one, a cut near
    each of a few places across it, and that one too if it is clean (next to no ink crossed);
    ``too_wide`` set when no one digit is that wide (``nested``: the parts of its cuts get
    their own ways to be cut). Every path is found in one pass."""
    jobs: list[tuple[DigitPiece, tuple[int, int]]] = []
    plans: list[tuple[int, int, bool, bool] | None] = []  # (first job, jobs, too wide, last clean only)
    for piece in pieces:
        h, w = piece.ink.shape
        narrow, too_wide = w <= MAYBE_TWO * h, w > WIDE * h
        margin = math.ceil(MIN_WIDTH * h)
        spans = (
            []
            if narrow
            else [
                (round((c - CUT_WINDOW) * w), round((c + CUT_WINDOW) * w))
                for c in (WIDE_CUT_AT if too_wide else CUT_AT)
            ]
        )
        windows = [(max(margin, lo), min(w - margin, hi)) for lo, hi in spans if min(w - margin, hi) > max(margin, lo)]
        across = None if too_wide else _across(piece)
        if across is not None:
            windows.append(across)
        if not windows:
            plans.append(None)
            continue
        plans.append((len(jobs), len(windows), too_wide, across is not None and not narrow))
        jobs += [(piece, window) for window in windows]
    found = _cuts(jobs)
    out = []
    for piece, plan in zip(pieces, plans):
        if plan is None:
            out.append(piece)
            continue
        first, n, too_wide, last_clean_only = plan
        cuts: dict[tuple[Box, ...], Cut] = {}
        for j, halves in enumerate(found[first : first + n]):
            if halves is None:
                continue
            left, right, crossed = halves
            if last_clean_only and j == n - 1 and crossed >= CLEAN:  # the cut across a wide piece: only if clean
                continue
            parts = (*_cut_till_narrow(left), *_cut_till_narrow(right))
            if too_wide and nested:  # a part may be two digits still: give it its own ways to be cut
                parts = tuple(_split_touching(list(parts), nested=False))
            cuts.setdefault(tuple(part.box for part in parts), Cut(parts, crossed))
        out.append(replace(piece, cuts=tuple(cuts.values()), too_wide=too_wide))
    return out


def _cut_till_narrow(piece: DigitPiece) -> list[DigitPiece]:
    """A part of a cut still too wide for one digit, cut again along the least ink (near its
    middle), until every part is narrow enough."""
    h, w = piece.ink.shape
    margin = math.ceil(MIN_WIDTH * h)
    if w <= WIDE * h or w - 2 * margin < 1:
        return [piece]
    (found,) = _cuts([(piece, (max(margin, round(0.3 * w)), min(w - margin, round(0.7 * w))))])
    if found is None:
        return [piece]
    left, right, _ = found
    return [*_cut_till_narrow(left), *_cut_till_narrow(right)]


def _cuts(
    jobs: list[tuple[DigitPiece, tuple[int, int]]],
) -> list[tuple[DigitPiece, DigitPiece, float] | None]:
    """Each piece cut in two along the path from top to bottom that crosses the least ink
    within its window of columns (lo, hi): (left, right, ink crossed in pen widths), or None
    if a side would be empty. All the paths at once (pieces padded to one size)."""
    if not jobs:
        return []
    height = max(piece.ink.shape[0] for piece, _ in jobs)
    width = max(piece.ink.shape[1] for piece, _ in jobs)
    inks = np.zeros((len(jobs), height, width), np.float32)  # rows below a piece: free to pass
    outside = np.full((len(jobs), width), np.inf, np.float32)
    for i, (piece, (lo, hi)) in enumerate(jobs):
        h, w = piece.ink.shape
        inks[i, :h, :w] = piece.ink
        outside[i, lo:hi] = 0
    pens: dict[int, float] = {}
    out = []
    for (piece, _), path in zip(jobs, _least_ink_paths(inks, outside)):
        ink = piece.ink
        h, w = ink.shape
        path = path[:h]
        columns = np.arange(w)[None, :]
        top, left = piece.box[:2]
        left_side = _tight(np.where(columns < path[:, None], ink, np.float32(0)), top, left)
        right_side = _tight(np.where(columns >= path[:, None], ink, np.float32(0)), top, left)
        if left_side is None or right_side is None:
            out.append(None)
            continue
        pen = pens.setdefault(id(piece), _pen_width(ink))
        out.append((left_side, right_side, float(ink[np.arange(h), path].sum()) / pen))
    return out


def _pen_width(ink: np.ndarray) -> float:
    """The strokes' typical width: twice the inked area over its outline's length."""
    inked = (ink > 0.5).view(np.int8)
    outline = np.count_nonzero(np.diff(inked, axis=0)) + np.count_nonzero(np.diff(inked, axis=1))
    return max(1.0, 2.0 * np.count_nonzero(inked) / max(outline, 1))


def _least_ink_paths(inks: np.ndarray, outside: np.ndarray) -> np.ndarray:
    """For each of n inks ((n, h, w)) and its row of ``outside`` ((n, w): 0 where a path may
    go, inf where not), the top-to-bottom path (one column left, right or straight down per
    row) that crosses the least ink, as (n, h) columns; each step sideways costs a little
    more. All n at once, the loop over rows only: pairs of rows (their darker pixel) when
    the inks are tall, which halves the work and keeps every stroke a path must cross."""
    n, h, w = inks.shape
    v = 2 if h > PATH_ROWS else 1
    if v == 2:
        inks = np.maximum(inks[:, 0::2], np.pad(inks[:, 1::2], ((0, 0), (0, h % 2), (0, 0))))
    rows = inks.shape[1]
    step = np.float32(0.05)
    cost = inks[:, 0] + outside
    came = np.zeros((rows, n, w), np.int8)
    left = np.full((n, w), np.inf, np.float32)
    right = np.full((n, w), np.inf, np.float32)
    for r in range(1, rows):
        left[:, 1:] = cost[:, :-1] + step
        right[:, :-1] = cost[:, 1:] + step
        best = np.minimum(np.minimum(left, cost), right)
        came[r] = np.where(cost == best, 0, np.where(left == best, -1, 1))
        cost = best + inks[:, r] + outside
    paths = np.zeros((n, rows), np.int64)
    paths[:, -1] = cost.argmin(axis=1)
    index = np.arange(n)
    for r in range(rows - 1, 0, -1):
        paths[:, r - 1] = paths[:, r] + came[r, index, paths[:, r]]
    return np.repeat(paths, v, axis=1)[:, :h]
