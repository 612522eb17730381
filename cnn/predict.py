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

from cnn import runtime
from cnn.model import forward
from cnn.preprocess import Prepared, prepare
from cnn.store import RunInfo, load_model

if TYPE_CHECKING:
    import keras

UNSURE_BELOW = 0.6  # a top probability under this is reported as "not sure"
CACHED_MODELS = 8


@dataclass(frozen=True)
class Prediction:
    probabilities: np.ndarray  # (10,) float32, sums to 1
    prepared: Prepared  # the steps, and the 28x28 the model saw

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
    """A model ready to classify one image at a time, from any thread."""

    def __init__(self, model: keras.Model, run: RunInfo | None = None):
        runtime.keras()
        self.model, self.run = model, run
        self._forward = forward(model)
        self.probabilities(np.zeros((28, 28), np.float32))  # trace now, not on a user's first stroke

    def probabilities(self, image28: np.ndarray) -> np.ndarray:
        """(10,) probabilities for one prepared 28x28 float image (or (n, 10) for n images)."""
        x = np.asarray(image28, np.float32).reshape(-1, 28, 28, 1)
        p = self._forward(x).numpy()
        return p[0] if np.ndim(image28) == 2 else p

    def classify(self, image: np.ndarray) -> Prediction | None:
        """Prepare ``image`` the MNIST way and classify it; None when there is no digit."""
        prepared = prepare(image)
        if prepared is None:
            return None
        return Prediction(self.probabilities(prepared.image), prepared)


_models: OrderedDict[tuple, Classifier] = OrderedDict()
_models_lock = threading.Lock()


def classifier_for(run: RunInfo) -> Classifier:
    """The shared classifier for a saved run, loaded on first use (at most 8 kept)."""
    stat = run.model_path.stat()
    key = (str(run.path), stat.st_mtime_ns, stat.st_size)
    with _models_lock:
        if key in _models:
            _models.move_to_end(key)
            return _models[key]
    classifier = Classifier(load_model(run), run)  # outside the lock: loading takes a while
    with _models_lock:
        classifier = _models.setdefault(key, classifier)
        while len(_models) > CACHED_MODELS:
            _models.popitem(last=False)
    return classifier
