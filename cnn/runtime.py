"""The one place TensorFlow is imported and set up.

TensorFlow takes seconds and ~500 MB to import, so nothing imports it at module
level: code that needs keras calls ``keras()`` here. Thread pools are fixed before
TensorFlow starts (they cannot change afterwards). On a shared classroom server a
training job and many small predictions share two cores: one op may use every core
(``CNN_TF_THREADS``, default all), and at most two ops run side by side, so a single
training step cannot starve the predictions that arrive meanwhile.
"""

from __future__ import annotations

import os
import threading
from types import ModuleType

_lock = threading.Lock()
_keras: ModuleType | None = None


def thread_settings() -> tuple[int, int]:
    """(intra-op, inter-op) thread counts TensorFlow is given."""
    intra = int(os.environ.get("CNN_TF_THREADS", os.cpu_count() or 1))
    return max(intra, 1), 2


def keras() -> ModuleType:
    """The keras module, with TensorFlow imported and configured once per process."""
    global _keras
    with _lock:
        if _keras is None:
            os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep C++ start-up chatter out of the logs
            import tensorflow as tf

            intra, inter = thread_settings()
            try:
                tf.config.threading.set_intra_op_parallelism_threads(intra)
                tf.config.threading.set_inter_op_parallelism_threads(inter)
            except RuntimeError:
                pass  # TensorFlow was already started by someone else; keep its settings
            import keras as keras_module

            _keras = keras_module
        return _keras
