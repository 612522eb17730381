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
    thicker = tf.nn.max_pool2d(x, 3, 1, "SAME")
    thinner = 0.5 * (x - tf.nn.max_pool2d(-x, 2, 1, "SAME"))  # half-strength 2x2 erosion
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
        images=x, transforms=transforms, output_shape=[28, 28], fill_value=0.0,
        interpolation="BILINEAR", fill_mode="CONSTANT",
    )
