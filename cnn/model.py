"""``build_model(config)``: the CNN a ``TrainConfig`` describes, as a keras model.

All three layouts take a (28, 28, 1) float32 image in [0, 1] (ink = 1) and end in a
10-way softmax, so everything downstream (training, the store, prediction,
explanations) treats them alike. Layers are named (conv1, pool1, ...) so pages can
show what each one sees.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from cnn import runtime
from cnn.config import TrainConfig

if TYPE_CHECKING:
    import keras

T = TypeVar("T")


def build_model(config: TrainConfig) -> keras.Model:
    keras = runtime.keras()
    layers = keras.layers

    keras.utils.set_random_seed(config.seed)
    stack: list[keras.layers.Layer] = [keras.Input((28, 28, 1), name="image")]
    k = config.kernel_size
    if config.architecture == "compact":
        for i in range(1, config.conv_blocks + 1):
            # With batch-norm the conv needs no bias; momentum .9 (not .99) so that
            # runs of a few hundred steps end with usable running statistics.
            out = config.filters * 2 ** (i - 1)
            if config.batch_norm:
                stack += [
                    layers.Conv2D(out, k, padding="same", use_bias=False, name=f"conv{i}"),
                    layers.BatchNormalization(momentum=0.9, name=f"norm{i}"),
                    layers.ReLU(name=f"relu{i}"),
                ]
            else:
                stack.append(layers.Conv2D(out, k, padding="same", activation="relu", name=f"conv{i}"))
            stack.append(layers.MaxPooling2D(2, name=f"pool{i}"))
        stack += [
            layers.Flatten(name="flatten"),
            layers.Dropout(config.dropout, name="dropout1"),
            layers.Dense(config.dense_units, activation="relu", name="dense"),
            layers.Dropout(config.dropout, name="dropout2"),
        ]
    elif config.architecture == "tutorial":
        stack += [
            layers.Conv2D(config.filters, k, activation="relu", name="conv1"),
            layers.Conv2D(max(config.filters // 2, 1), k, activation="relu", name="conv2"),
            layers.Dropout(config.dropout, name="dropout1"),
            layers.Flatten(name="flatten"),
        ]
    else:  # mnist_cnn; the original drops twice as much after the dense layer (.25 / .5)
        stack += [
            layers.Conv2D(config.filters, k, activation="relu", name="conv1"),
            layers.Conv2D(config.filters * 2, k, activation="relu", name="conv2"),
            layers.MaxPooling2D(2, name="pool1"),
            layers.Dropout(config.dropout, name="dropout1"),
            layers.Flatten(name="flatten"),
            layers.Dense(config.dense_units, activation="relu", name="dense"),
            layers.Dropout(min(2 * config.dropout, 0.8), name="dropout2"),
        ]
    stack.append(layers.Dense(10, activation="softmax", name="probabilities"))
    return keras.Sequential(stack, name=config.architecture)


def kept_on(model: keras.Model, name: str, make: Callable[[], T]) -> T:
    """``make()`` once per model, kept on the model itself so that it lives and dies with it.

    A cache keyed by the model would keep every model alive, since what is cached (traced
    graphs) refers to it. Two threads may both make it at first; either serves.
    """
    value = model.__dict__.get(name)
    if value is None:
        value = make()
        setattr(model, name, value)
    return value


def forward(model: keras.Model):
    """The model's inference pass as one traced graph for any (n, 28, 28, 1) float32 batch.

    Calling a keras model eagerly costs ~1.5x more on validation-sized batches, and
    ``model.predict`` tens of ms per call.
    """
    import tensorflow as tf

    return kept_on(model, "_cnn_forward", lambda: tf.function(
        lambda x: model(x, training=False), autograph=False,
        input_signature=[tf.TensorSpec((None, 28, 28, 1), tf.float32)]))


def conv_layer_names(model: keras.Model) -> list[str]:
    """Names of the model's convolution layers, first to last."""
    return [layer.name for layer in model.layers if layer.__class__.__name__ == "Conv2D"]


def describe(config: TrainConfig) -> str:
    """One line: the layers and the parameter count, without building anything in TensorFlow."""
    k, f = config.kernel_size, config.filters
    parts, params, side, channels = [], 0, 28, 1
    if config.architecture == "compact":
        for i in range(config.conv_blocks):
            out = f * 2**i
            # conv without bias + batch-norm (4 per channel), or conv with bias
            params += k * k * channels * out + (4 * out if config.batch_norm else out)
            parts.append(f"Conv{k}x{k} {out}{'+BN' if config.batch_norm else ''}+Pool")
            channels, side = out, side // 2
        flat = side * side * channels
        params += flat * config.dense_units + config.dense_units + config.dense_units * 10 + 10
        parts += [f"Dropout {config.dropout:g}", f"Dense {config.dense_units}", f"Dropout {config.dropout:g}"]
    elif config.architecture == "tutorial":
        half = max(f // 2, 1)
        params += k * k * f + f + k * k * f * half + half
        side -= 2 * (k - 1)
        parts += [f"Conv{k}x{k} {f}", f"Conv{k}x{k} {half}"]
        if config.dropout:
            parts.append(f"Dropout {config.dropout:g}")
        params += side * side * half * 10 + 10
    else:
        params += k * k * f + f + k * k * f * 2 * f + 2 * f
        side = (side - 2 * (k - 1)) // 2
        params += side * side * 2 * f * config.dense_units + config.dense_units + config.dense_units * 10 + 10
        parts += [f"Conv{k}x{k} {f}", f"Conv{k}x{k} {2 * f}", "MaxPool", f"Dropout {config.dropout:g}",
                  f"Dense {config.dense_units}", f"Dropout {min(2 * config.dropout, 0.8):g}"]
    parts.append("Dense 10 softmax")
    return f"{' -> '.join(parts)} ({params:,} parameters)"
