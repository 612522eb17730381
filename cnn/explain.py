"""Look inside a trained CNN for one prepared 28x28 digit.

- ``saliency``: which input pixels pushed the predicted digit up. Gradient x input
  (each pixel's ink times how much the digit's log-probability rises with it),
  averaged over a few noisy copies of the image (SmoothGrad: one batch, one backward
  pass) so it is not speckled; positive part only, scaled to [0, 1].
- ``activations``: what each convolution layer outputs for this image (after ReLU),
  one map per filter.
- ``first_layer_filters``: the learned kernels of the first convolution.

Everything calls the model directly through traced graphs, so all views together
take a few milliseconds, fast enough to redraw after every stroke
(benchmarks/explain_latency.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from cnn import runtime
from cnn.model import conv_layer_names, kept_on

if TYPE_CHECKING:
    import keras

NOISE_COPIES = 8
NOISE_LEVEL = 0.1  # standard deviation of SmoothGrad's noise, for inputs in [0, 1]


@dataclass(frozen=True)
class Explanation:
    saliency: np.ndarray  # (28, 28) float32 in [0, 1]
    activations: list[tuple[str, np.ndarray]]  # (layer name, (h, w, channels)) per conv layer
    digit: int  # the digit the saliency explains


class Explainer:
    """Traced graphs for one model; safe to call from several threads."""

    def __init__(self, model: keras.Model):
        import tensorflow as tf

        keras = runtime.keras()
        names = {layer.name for layer in model.layers}
        # Show each conv layer after its ReLU: a separate layer when batch-norm sits between.
        self.layer_names = [
            n.replace("conv", "relu") if n.replace("conv", "relu") in names else n for n in conv_layer_names(model)
        ]
        spec = tf.TensorSpec((1, 28, 28, 1), tf.float32)
        if self.layer_names:
            probe = keras.Model(model.inputs, [model.get_layer(n).output for n in self.layer_names])

            @tf.function(input_signature=[spec])
            def maps(x):
                out = probe(x, training=False)
                # float32 for the pages, also from a model that computes in bfloat16
                return [tf.cast(o, tf.float32) for o in (out if isinstance(out, (list, tuple)) else [out])]
        else:  # a model without convolutions (a plain dense network) has no maps to show

            def maps(x):
                return []

        @tf.function(input_signature=[spec, tf.TensorSpec((), tf.int32)])
        def smooth_grad(x, digit):
            noisy = tf.repeat(x, NOISE_COPIES, axis=0) + tf.random.normal((NOISE_COPIES, 28, 28, 1), stddev=NOISE_LEVEL)
            with tf.GradientTape() as tape:
                tape.watch(noisy)
                p = model(noisy, training=False)
                score = tf.math.log(p[:, digit] + 1e-7)
            grads = tape.gradient(score, noisy)
            # gradient x input: how much each pixel's ink added to the score
            return tf.nn.relu(tf.reduce_mean(grads * noisy, axis=0))[..., 0]

        self._maps, self._smooth_grad = maps, smooth_grad
        self.explain(np.zeros((28, 28), np.float32), 0)  # trace now, not on a user's stroke

    def saliency(self, image28: np.ndarray, digit: int) -> np.ndarray:
        g = self._smooth_grad(_batch(image28), np.int32(digit)).numpy()
        top = float(g.max())
        return (g / top if top > 0 else g).astype(np.float32)

    def activations(self, image28: np.ndarray) -> list[tuple[str, np.ndarray]]:
        return [(name, a.numpy()[0]) for name, a in zip(self.layer_names, self._maps(_batch(image28)))]

    def explain(self, image28: np.ndarray, digit: int) -> Explanation:
        return Explanation(self.saliency(image28, digit), self.activations(image28), int(digit))


def first_layer_filters(model: keras.Model) -> np.ndarray | None:
    """(k, k, n) kernels of the first convolution (single input channel); None without one."""
    names = conv_layer_names(model)
    if not names:
        return None
    kernel = model.get_layer(names[0]).get_weights()[0]
    return kernel[:, :, 0, :]


def tile(maps: np.ndarray, columns: int = 8, pad: int = 1, normalise: bool = True) -> np.ndarray:
    """(h, w, n) maps -> one 2-D image of n tiles in a grid, each tile scaled to [0, 1] on its own.

    Padding is NaN so figures can show it as a gap.
    """
    h, w, n = maps.shape
    columns = min(columns, n)
    rows = -(-n // columns)
    grid = np.full((rows * (h + pad) - pad, columns * (w + pad) - pad), np.nan, np.float32)
    for i in range(n):
        m = maps[:, :, i].astype(np.float32)
        if normalise:
            lo, hi = float(m.min()), float(m.max())
            m = (m - lo) / (hi - lo) if hi > lo else np.zeros_like(m)
        r, c = divmod(i, columns)
        grid[r * (h + pad) : r * (h + pad) + h, c * (w + pad) : c * (w + pad) + w] = m
    return grid


def explainer_for(model: keras.Model) -> Explainer:
    """One explainer per model object, shared like the model itself (and freed with it)."""
    return kept_on(model, "_cnn_explainer", lambda: Explainer(model))


def _batch(image28: np.ndarray) -> np.ndarray:
    return np.asarray(image28, np.float32).reshape(1, 28, 28, 1)
