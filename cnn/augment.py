"""Training-time augmentation: teach the model what drawings look like.

Drawings reach the model size-normalised and centred (``cnn.preprocess``), so what is
left to learn is pen width, slant and the small errors of that normalisation: random
stroke thickness, then one random affine map (rotate, scale, shift) per image. All of
it runs inside the ``tf.data`` pipeline on whole batches.
"""

from __future__ import annotations

import math

from cnn.config import TrainConfig


def to_float(x, config: TrainConfig):
    import tensorflow as tf

    x = tf.cast(x, tf.float32)[..., None] / 255.0
    return augment(x, config) if config.augment else x


def augment(x, config: TrainConfig):
    """Random stroke thickness, then a random rotation, zoom and shift of each image."""
    import tensorflow as tf

    n = tf.shape(x)[0]
    u = tf.random.uniform([n, 1, 1, 1])
    thicker = _dilate(x)
    thinner = 0.5 * (x + _erode(x))  # a half-strength erosion: MNIST strokes are only 2-3 px wide
    x = tf.where(u < config.thickness / 2, thicker, tf.where(u < config.thickness, thinner, x))

    angle = tf.random.uniform([n], -1.0, 1.0) * (config.rotation * math.pi / 180)
    zoom = 1.0 + tf.random.uniform([n], -1.0, 1.0) * config.scale
    tx, ty = (tf.random.uniform([n], -1.0, 1.0) * config.shift * 28 for _ in range(2))
    # The transform maps each output pixel to the input pixel it samples.
    cos, sin, c = tf.cos(angle) / zoom, tf.sin(angle) / zoom, 13.5
    zeros = tf.zeros([n])
    transforms = tf.stack(
        [cos, sin, c - cos * (c + tx) - sin * (c + ty), -sin, cos, c + sin * (c + tx) - cos * (c + ty), zeros, zeros],
        axis=1,
    )
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=x,
        transforms=transforms,
        output_shape=[28, 28],
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="CONSTANT",
    )


# Morphology by shifted maxima and minima: on a CPU, 4-5x faster than max_pool2d on
# single-channel 28x28 images, which made augmentation cost more than training.
def _dilate(x):
    """3x3 grey dilation (strokes one pixel thicker on each side)."""
    import tensorflow as tf

    p = tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]])
    rows = tf.maximum(tf.maximum(p[:, :-2], p[:, 1:-1]), p[:, 2:])
    return tf.maximum(tf.maximum(rows[:, :, :-2], rows[:, :, 1:-1]), rows[:, :, 2:])


def _erode(x):
    """2x2 grey erosion (strokes one pixel thinner)."""
    import tensorflow as tf

    p = tf.pad(x, [[0, 0], [0, 1], [0, 1], [0, 0]])
    rows = tf.minimum(p[:, :-1], p[:, 1:])
    return tf.minimum(rows[:, :, :-1], rows[:, :, 1:])
