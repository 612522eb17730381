"""Fast single-image classification with a saved run's model.

``classifier_for(run)`` loads a run's model once per process and shares it between
threads (every Streamlit session, the CLI, the load test): models are keyed by run
id and model-file version, so a replaced file is reloaded, and nobody ever trains
them. ``Classifier.classify(image)`` takes any drawing or image, prepares it the
MNIST way and calls the model directly through one traced graph: ``model.predict``
costs tens of milliseconds of set-up for a single image.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from cnn import runtime
from cnn.config import TrainConfig
from cnn.model import forward, kept_on
from cnn.preprocess import Prepared, _strokes, prepare
from cnn.store import RunInfo, load_model

if TYPE_CHECKING:
    import keras

UNSURE_BELOW = 0.6  # a top probability under this is reported as "not sure"
CACHED_MODELS = 8

# Refusal: what is not a digit. Tuned on MNIST validation digits, re-stroked MNIST test
# digits, digits typed in the system's fonts and non-digits drawn by
# benchmarks/refusal_data.py (never on the yardstick's sets); see refusal().
SOLID_PX = 5  # a blob whose thickest part survives this many 1-px erosions of the 28x28 is filled
# A bar too narrow for that, but BAR_FILL of its box inked, its four corners too, and at least
# BAR_WIDTH as wide as long, is a filled block: a round pen's stroke leaves its box's corners
# blank (a short thick one fills up to 0.93 of it), and the widest marker's 1 is a fifth as
# wide as long. 0 of benchmarks/refusal_data.py's 3,000 digits.
BAR_FILL = 0.9
BAR_WIDTH = 0.35
PARTS = 4  # this many separate marks (of PART_PX pixels or more) are not one digit
PART_PX = 4
PART_SHARE = 0.2  # ... and at least this share of the biggest one (specks and noise are not marks)
PART_LEVEL = 0.15  # ... of ink above this level (hairlines fade to ~0.3 in the 28x28)
# Two or more marks that are all round and filled are dots: every digit has at least one
# stroke. A part is a dot when it fills this share of its box (a disc fills 0.79, a bent
# or slanted stroke far less) and its box is at most ROUND_ASPECT times longer than wide.
# Measured on benchmarks/refusal_data.py's data: dots refused 88% -> 98%, no digit more.
DOT_FILL = 0.55
ROUND_ASPECT = 1.6
INSIDE = 2  # this many marks (of INSIDE_PX pixels or more) inside the loop of the biggest: eyes in a face
# (no digit has a mark inside its loop but a dotted zero, with one). Looked for in the ink at
# DETAIL px (longer side), not the 28x28, where a narrow face's eyes run into its outline or
# mouth: faces refused 49% -> 73% of benchmarks/refusal_data.py's, no digit of its 3,000 more.
DETAIL = 56
INSIDE_LEVEL = 0.3  # ink above this level is a mark at DETAIL px
INSIDE_PX = 8  # px at DETAIL px: about one pixel of the 28x28, whose digit is 20 px
HOLES = 3  # this many closed loops (of HOLE_PX pixels or more): no digit has more than two
HOLE_PX = 2
FLAT = 3.0  # a mark this many times wider than tall is a dash, not a digit
REFUSE_BELOW = 0.5  # a calibrated top probability under this: no digit looks like it
CALIBRATION_IMAGES = 5000  # MNIST validation images the temperature is fitted on


@dataclass(frozen=True)
class Prediction:
    probabilities: np.ndarray  # (10,) float32, sums to 1 (calibrated: see Classifier.temperature)
    prepared: Prepared  # the steps, and the 28x28 the model saw
    refused: str | None = None  # why this is not read as a digit ("a filled block", ...), or None

    @property
    def digit(self) -> int:
        return int(self.probabilities.argmax())

    @property
    def confidence(self) -> float:
        return float(self.probabilities.max())

    @property
    def unsure(self) -> bool:
        return self.confidence < UNSURE_BELOW

    def top(self, k: int = 2) -> list[tuple[int, float]]:
        order = np.argsort(self.probabilities)[::-1][:k]
        return [(int(d), float(self.probabilities[d])) for d in order]


class Classifier:
    """A model ready to classify one image at a time, from any thread.

    Its probabilities are calibrated by temperature scaling: the model's log-probabilities
    divided by one ``temperature``, fitted (maximum likelihood) on MNIST images the model
    did not train on (the validation share of ``config``, by default ``run.config``)."""

    def __init__(self, model: keras.Model, run: RunInfo | None = None, *, config: TrainConfig | None = None):
        runtime.keras()
        self.model, self.run = model, run
        self._forward = forward(model)
        self.temperature = 1.0
        self.probabilities(np.zeros((28, 28), np.float32))  # trace now, not on a user's first stroke
        self.temperature = kept_on(model, "_cnn_temperature", lambda: self._fit_temperature(config))

    def _fit_temperature(self, config: TrainConfig | None) -> float:
        from cnn.data import load_mnist
        from cnn.train import split

        config = config or (self.run.config if self.run and self.run.config else None) or TrainConfig()
        _, _, x_val, y_val = split(config, load_mnist())
        x, y = x_val[:CALIBRATION_IMAGES], y_val[:CALIBRATION_IMAGES]
        p = np.concatenate([self.raw(x[i : i + 1000].astype(np.float32) / 255.0) for i in range(0, len(x), 1000)])
        return fit_temperature(p, y)

    def raw(self, images28: np.ndarray) -> np.ndarray:
        """(n, 10) uncalibrated probabilities, straight from the model."""
        return self._forward(np.asarray(images28, np.float32).reshape(-1, 28, 28, 1)).numpy()

    def probabilities(self, image28: np.ndarray) -> np.ndarray:
        """(10,) calibrated probabilities for one prepared 28x28 float image (or (n, 10) for n images)."""
        p = calibrate(self.raw(image28), self.temperature)
        return p[0] if np.ndim(image28) == 2 else p

    def classify(self, image: np.ndarray) -> Prediction | None:
        """Prepare ``image`` the MNIST way and classify it; None when there is no digit at all
        (``cnn.preprocess.no_digit_reason`` says why). A picture that is something else (a
        blob, stripes, a letter) comes back with ``refused`` set."""
        prepared = prepare(image)
        if prepared is None:
            return None
        probabilities = self.probabilities(prepared.image)
        return Prediction(probabilities, prepared, refusal(prepared, probabilities))


def calibrate(p: np.ndarray, temperature: float) -> np.ndarray:
    """Softmax probabilities ``p`` (n, 10) rescaled by a temperature (> 1 softens)."""
    if temperature == 1.0:
        return p
    logits = np.log(np.clip(p, 1e-12, 1.0)) / temperature
    logits -= logits.max(axis=-1, keepdims=True)
    e = np.exp(logits)
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


def fit_temperature(p: np.ndarray, labels: np.ndarray) -> float:
    """The temperature that maximises the likelihood of ``labels`` under ``p`` (a grid search
    over 0.25-8, fine enough for one parameter)."""
    grid = np.exp(np.linspace(np.log(0.25), np.log(8.0), 97))
    rows = np.arange(len(labels))
    nll = [-np.log(np.clip(calibrate(p, t)[rows, labels], 1e-12, 1.0)).mean() for t in grid]
    return float(grid[int(np.argmin(nll))])


def expected_calibration_error(p: np.ndarray, right: np.ndarray, bins: int = 15) -> float:
    """ECE: the mean gap between confidence and accuracy over equal-width confidence bins,
    weighted by how many predictions fall in each."""
    confidence = p.max(axis=1)
    which = np.minimum((confidence * bins).astype(int), bins - 1)
    gap = 0.0
    for b in range(bins):
        inside = which == b
        if inside.any():
            gap += inside.mean() * abs(float(confidence[inside].mean()) - float(right[inside].mean()))
    return gap


def refusal(prepared: Prepared, probabilities: np.ndarray, refuse_below: float = REFUSE_BELOW) -> str | None:
    """Why ``prepared`` is not a digit, or None when it may well be one. In order: a filled
    blob (a dot, a block: no digit's stroke is that thick), many separate marks (stripes,
    dots), a few marks that are all dots, marks inside a loop (eyes in a face), more closed
    loops than an 8 (a grid), a flat dash, then the model itself: no digit gets
    REFUSE_BELOW of its (calibrated) probability."""
    image = prepared.image
    solid = image > 0.5
    for _ in range(SOLID_PX):
        solid = _eroded(solid)
    if solid.any() or _is_bar(prepared.fitted):
        return "a filled blob or block, not a pen stroke"
    marks = _marks(image > PART_LEVEL)
    if len(marks) >= PARTS:
        return f"{len(marks)} separate marks, not one digit"
    if len(marks) >= 2 and all(_is_dot(*mark) for mark in marks):
        return f"{len(marks)} dots, not a digit"
    inside = _marks_inside_loop(*_parts(_detail(prepared) > INSIDE_LEVEL))
    if inside >= INSIDE:
        return f"{inside} marks inside a loop, like a face"
    holes = _holes(image > 0.35)
    if holes >= HOLES:
        return f"{holes} closed loops: no digit has more than two"
    fh, fw = prepared.fitted.shape
    if fw >= FLAT * fh:
        return "a flat line or dash"
    if float(probabilities.max()) < refuse_below:
        best = int(probabilities.argmax())
        return f"it looks like no digit (at best a {best}, {probabilities[best]:.0%} sure)"
    return None


def _is_bar(fitted: np.ndarray) -> bool:
    """A filled bar or block: BAR_FILL of its box inked, corners included, and not thin."""
    inked = fitted > 0.5
    corners = inked[0, 0] and inked[0, -1] and inked[-1, 0] and inked[-1, -1]
    return bool(corners and min(fitted.shape) >= BAR_WIDTH * max(fitted.shape) and inked.mean() >= BAR_FILL)


def _detail(prepared: Prepared) -> np.ndarray:
    """The digit's ink, specks left out, at DETAIL px along its longer side (finer than the
    20 px of the 28x28)."""
    crop = Image.fromarray(prepared.crop)
    scale = DETAIL / max(crop.size)
    size = (max(1, round(crop.size[0] * scale)), max(1, round(crop.size[1] * scale)))
    return np.asarray(crop.resize(size, Image.BOX if scale < 1 else Image.BILINEAR), np.float32)


def _eroded(mask: np.ndarray) -> np.ndarray:
    """3x3 binary erosion (the border counts as background)."""
    p = np.pad(mask, 1)
    out = p[1:-1, 1:-1].copy()
    for dy in (0, 1, 2):
        for dx in (0, 1, 2):
            out &= p[dy : dy + mask.shape[0], dx : dx + mask.shape[1]]
    return out


def _holes(mask: np.ndarray) -> int:
    """Closed loops: parts of the background (8-connected, so a loop must be closed even
    diagonally) that do not touch the border, of HOLE_PX pixels or more."""
    background = np.pad(~mask, 1, constant_values=True)
    rows, starts, ends, comp = _strokes(background)
    sizes = np.bincount(comp, weights=ends - starts)
    outside = comp[0]  # the padded border is one part
    return int(np.sum(sizes >= HOLE_PX)) - int(sizes[outside] >= HOLE_PX)


def _parts(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """The 8-connected parts of a boolean image: (labels, -1 for background; how many)."""
    labels = np.full(mask.shape, -1)
    if not mask.any():
        return labels, 0
    rows, starts, ends, comp = _strokes(mask)
    for row, start, end, part in zip(rows.tolist(), starts.tolist(), ends.tolist(), comp.tolist()):
        labels[row, start:end] = part
    return labels, int(comp.max()) + 1


def _marks_inside_loop(labels: np.ndarray, n: int) -> int:
    """How many parts (``_parts``) of INSIDE_PX pixels or more lie wholly inside a closed
    loop of the biggest."""
    if n < 2:
        return 0
    sizes = np.bincount(labels[labels >= 0], minlength=n)
    biggest = int(sizes.argmax())
    outside, _ = _parts(np.pad(labels != biggest, 1, constant_values=True))
    enclosed = (outside != outside[0, 0])[1:-1, 1:-1]  # not reachable from the border
    return sum(
        1 for part in range(n) if part != biggest and sizes[part] >= INSIDE_PX and enclosed[labels == part].all()
    )


def _marks(mask: np.ndarray) -> list[tuple[int, int, int]]:
    """(pixels, height, width) of each mark: the 8-connected parts of a boolean image of at
    least PART_PX pixels and PART_SHARE of the biggest (specks and noise are not marks)."""
    if not mask.any():
        return []
    rows, starts, ends, comp = _strokes(mask)
    n = int(comp.max()) + 1
    pixels = np.bincount(comp, weights=ends - starts, minlength=n)
    top, bottom = np.full(n, mask.shape[0]), np.zeros(n, np.int64)
    left, right = np.full(n, mask.shape[1]), np.zeros(n, np.int64)
    np.minimum.at(top, comp, rows)
    np.maximum.at(bottom, comp, rows + 1)
    np.minimum.at(left, comp, starts)
    np.maximum.at(right, comp, ends)
    keep = pixels >= max(PART_PX, PART_SHARE * pixels.max())
    return [(int(pixels[c]), int(bottom[c] - top[c]), int(right[c] - left[c])) for c in np.flatnonzero(keep)]


def _is_dot(pixels: int, height: int, width: int) -> bool:
    return pixels >= DOT_FILL * height * width and max(height, width) <= ROUND_ASPECT * min(height, width)


_models: OrderedDict[tuple, Classifier] = OrderedDict()
_models_lock = threading.Lock()


def _model_key(run: RunInfo) -> tuple[str, int, int]:
    stat = run.model_path.stat()
    return str(run.path), stat.st_mtime_ns, stat.st_size


def loaded_classifier(run: RunInfo) -> Classifier | None:
    """The shared classifier for a saved run if it is loaded already, else None (it is not
    loaded here): a page shows "loading" only when ``classifier_for`` will take a while."""
    return _loaded(_model_key(run))


def _loaded(key: tuple) -> Classifier | None:
    with _models_lock:
        if key in _models:
            _models.move_to_end(key)
            return _models[key]
    return None


def classifier_for(run: RunInfo) -> Classifier:
    """The shared classifier for a saved run, loaded on first use (at most 8 kept)."""
    key = _model_key(run)
    classifier = _loaded(key)
    if classifier is not None:
        return classifier
    classifier = Classifier(load_model(run), run)  # outside the lock: loading takes a while
    with _models_lock:
        classifier = _models.setdefault(key, classifier)
        while len(_models) > CACHED_MODELS:
            _models.popitem(last=False)
    return classifier
