"""The CNN a ``TrainConfig`` describes: its layers (``layers``), built as a keras model
(``build_model``), described in words and its parameters counted (``describe``), all from
one layer spec per layout.

All three layouts take a (28, 28, 1) float32 image in [0, 1] (ink = 1) and end in a
10-way softmax, so everything downstream (training, the store, prediction,
explanations) treats them alike. Layers are named (conv1, pool1, ...) so pages can
show what each one sees.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from cnn import runtime
from cnn.config import IMAGE_SIDE, TrainConfig

if TYPE_CHECKING:
    import keras

T = TypeVar("T")


@dataclass(frozen=True)
class Layer:
    """One layer of a layout: enough to build it, describe it and count its parameters."""

    kind: str  # conv | norm | relu | pool | dropout | flatten | dense
    name: str
    units: int = 0  # filters of a conv, units of a dense layer
    kernel: int = 0
    same: bool = False  # 'same' padding (keeps the side) instead of 'valid'
    relu: bool = False  # a ReLU built into a conv or dense layer
    bias: bool = True
    rate: float = 0.0  # dropout rate


def layers(config: TrainConfig) -> list[Layer]:
    """The layout ``config`` describes, input to softmax: the one source of truth for it."""
    k, f = config.kernel_size, config.filters
    if config.architecture == "compact":
        spec = []
        for i in range(1, config.conv_blocks + 1):
            out = f * 2 ** (i - 1)
            if config.batch_norm:
                # With batch-norm the conv needs no bias; momentum .9 (see build_model).
                spec += [
                    Layer("conv", f"conv{i}", out, k, same=True, bias=False),
                    Layer("norm", f"norm{i}"),
                    Layer("relu", f"relu{i}"),
                ]
            else:
                spec.append(Layer("conv", f"conv{i}", out, k, same=True, relu=True))
            spec.append(Layer("pool", f"pool{i}"))
        spec += [
            Layer("flatten", "flatten"),
            Layer("dropout", "dropout1", rate=config.dropout),
            Layer("dense", "dense", config.dense_units, relu=True),
            Layer("dropout", "dropout2", rate=config.dropout),
        ]
    elif config.architecture == "tutorial":
        spec = [
            Layer("conv", "conv1", f, k, relu=True),
            Layer("conv", "conv2", max(f // 2, 1), k, relu=True),
            Layer("dropout", "dropout1", rate=config.dropout),
            Layer("flatten", "flatten"),
        ]
    else:  # mnist_cnn; the original drops twice as much after the dense layer (.25 / .5)
        spec = [
            Layer("conv", "conv1", f, k, relu=True),
            Layer("conv", "conv2", f * 2, k, relu=True),
            Layer("pool", "pool1"),
            Layer("dropout", "dropout1", rate=config.dropout),
            Layer("flatten", "flatten"),
            Layer("dense", "dense", config.dense_units, relu=True),
            Layer("dropout", "dropout2", rate=min(2 * config.dropout, 0.8)),
        ]
    return [*spec, Layer("dense", "probabilities", 10)]


def build_model(config: TrainConfig) -> keras.Model:
    keras = runtime.keras()
    # Each layer gets config.precision as its dtype policy (not keras' global policy, which
    # would reach models that other threads build meanwhile), except the softmax: its
    # probabilities, and the log of them in the loss, need float32's precision near 0 and 1.
    policy = config.precision
    make = {
        "conv": lambda s: keras.layers.Conv2D(
            s.units,
            s.kernel,
            padding="same" if s.same else "valid",
            use_bias=s.bias,
            activation="relu" if s.relu else None,
            name=s.name,
            dtype=policy,
        ),
        # momentum .9 (not .99) so that runs of a few hundred steps end with usable running statistics
        "norm": lambda s: keras.layers.BatchNormalization(momentum=0.9, name=s.name, dtype=policy),
        "relu": lambda s: keras.layers.ReLU(name=s.name, dtype=policy),
        "pool": lambda s: keras.layers.MaxPooling2D(2, name=s.name, dtype=policy),
        "dropout": lambda s: keras.layers.Dropout(s.rate, name=s.name, dtype=policy),
        "flatten": lambda s: keras.layers.Flatten(name=s.name, dtype=policy),
        "dense": lambda s: keras.layers.Dense(
            s.units,
            activation="relu" if s.relu else "softmax",
            name=s.name,
            dtype=policy if s.relu else "float32",
        ),
    }
    keras.utils.set_random_seed(config.seed)
    stack = [keras.Input((IMAGE_SIDE, IMAGE_SIDE, 1), name="image"), *(make[s.kind](s) for s in layers(config))]
    return keras.Sequential(stack, name=config.architecture)


def _size(config: TrainConfig) -> tuple[int, int]:
    """(parameters, multiply-adds for one image's forward pass), walking the layer spec."""
    side, channels, features, params, macs = IMAGE_SIDE, 1, 0, 0, 0
    for s in layers(config):
        if s.kind == "conv":
            params += s.kernel * s.kernel * channels * s.units + (s.units if s.bias else 0)
            side = side if s.same else side - s.kernel + 1
            macs += side * side * s.kernel * s.kernel * channels * s.units
            channels = s.units
        elif s.kind == "norm":
            params += 4 * channels  # scale, offset, and the running mean and variance
        elif s.kind == "pool":
            side //= 2
        elif s.kind == "flatten":
            features = side * side * channels
        elif s.kind == "dense":
            params += features * s.units + s.units
            macs += features * s.units
            features = s.units
    return params, macs


def parameters(config: TrainConfig) -> int:
    """What ``build_model(config).count_params()`` gives, without TensorFlow."""
    return _size(config)[0]


def training_flops(config: TrainConfig) -> int:
    """Floating-point operations to train on one image: the forward pass's multiply-adds
    (2 FLOPs each), and about twice that again for the backward pass."""
    return 3 * 2 * _size(config)[1]


def describe(config: TrainConfig) -> str:
    """One line: the layers in words and the parameter count, without TensorFlow."""
    words = {
        "conv": lambda s: f"Conv{s.kernel}x{s.kernel} {s.units}",
        "norm": lambda s: "BatchNorm",
        "pool": lambda s: "Pool",
        "dropout": lambda s: f"Dropout {s.rate:g}" if s.rate else "",
        "dense": lambda s: f"Dense {s.units}" + ("" if s.relu else " softmax"),
    }
    parts = [words[s.kind](s) for s in layers(config) if s.kind in words]
    return f"{' -> '.join(p for p in parts if p)} ({parameters(config):,} parameters)"


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
    ``model.predict`` tens of ms per call. The graph is called as its concrete function:
    the ``tf.function`` around it binds and checks its arguments again on every call, 15%
    of a one-drawing call (0.17 of 1.1 ms, from a fresh thread as each Draw page rerun is).
    """
    import tensorflow as tf

    return kept_on(
        model,
        "_cnn_forward",
        lambda: tf.function(
            lambda x: model(x, training=False),
            autograph=False,
            input_signature=[tf.TensorSpec((None, 28, 28, 1), tf.float32)],
        ).get_concrete_function(),
    )


def conv_layer_names(model: keras.Model) -> list[str]:
    """Names of the model's convolution layers, first to last."""
    return [layer.name for layer in model.layers if layer.__class__.__name__ == "Conv2D"]
