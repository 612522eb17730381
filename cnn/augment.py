"""Training-time augmentation: teach the model what drawings look like.

Drawings reach the model size-normalised and centred (``cnn.preprocess``), so what is
left to learn is pen width, slant, shape and the small errors of that normalisation:
random stroke thickness, a random blur or hard edges (MNIST is anti-aliased grey, a
canvas stroke hard-edged), then one random affine map (rotate, zoom, slant, stretch,
shift) per image; and typed digits (``cnn.fonts``), which MNIST lacks, swapped in for a
small share of each batch, as are non-digits (``cnn.outliers``) the model should refuse.
All of it runs inside the ``tf.data`` pipeline on whole batches.
"""

from __future__ import annotations

import math

from cnn.config import TrainConfig

NOT_A_DIGIT = -1  # the label of a non-digit: its target is "every digit equally unlikely"


def to_float(x, y, config: TrainConfig, typed=None, outliers=None):
    """A uint8 batch -> (float images in [0, 1] with a channel, labels), with a ``config.typed``
    share swapped for typed digits (``typed``: (images, labels) tensors), a ``config.outliers``
    share for non-digits (``outliers``: (images, labels) tensors, label NOT_A_DIGIT), augmented."""
    import tensorflow as tf

    x = tf.cast(x, tf.float32)[..., None] / 255.0
    if not config.augment:
        return x, y
    if typed is not None and config.typed > 0:
        x, y = _swap_in(x, y, typed, config.typed)
    if outliers is not None and config.outliers > 0:
        x, y = _swap_in(x, y, outliers, config.outliers)
    return augment(x, config), y


def _swap_in(x, y, typed, share: float):
    """Replace a random ``share`` of the batch by random typed digits."""
    import tensorflow as tf

    images, labels = typed
    n = tf.shape(x)[0]
    pick = tf.random.uniform([n], 0, tf.shape(labels)[0], dtype=tf.int32)
    swap = tf.random.uniform([n]) < share
    x = tf.where(swap[:, None, None, None], tf.gather(images, pick), x)
    return x, tf.where(swap, tf.gather(labels, pick), y)


def augment(x, config: TrainConfig):
    """Random stroke thickness, blur or hard edges, then a random affine map of each image:
    rotation, zoom, slant, aspect ratio and shift."""
    import tensorflow as tf

    n = tf.shape(x)[0]
    u = tf.random.uniform([n, 1, 1, 1])
    thicker = _dilate(x)
    thinner = 0.5 * (x + _erode(x))  # a half-strength erosion: MNIST strokes are only 2-3 px wide
    x = tf.where(u < config.thickness / 2, thicker, tf.where(u < config.thickness, thinner, x))

    # Blur (a camera, a soft pencil) or hard edges (a canvas stroke, a thresholded scan).
    u = tf.random.uniform([n, 1, 1, 1])
    blurred = _blur(x)
    blurred = blurred / tf.maximum(tf.reduce_max(blurred, axis=[1, 2, 3], keepdims=True), 1e-6)
    blurred *= tf.reduce_max(x, axis=[1, 2, 3], keepdims=True)
    hard = tf.clip_by_value((x - 0.3) * 2.5, 0.0, 1.0)
    x = tf.where(u < config.soften / 2, blurred, tf.where(u < config.soften, hard, x))

    # The forward map about the centre: rotate(angle) @ slant(shear) @ scale(zoom * aspect, zoom / aspect).
    angle = tf.random.uniform([n], -1.0, 1.0) * (config.rotation * math.pi / 180)
    zoom = 1.0 + tf.random.uniform([n], -1.0, 1.0) * config.scale
    aspect = tf.exp(tf.random.uniform([n], -1.0, 1.0) * math.log1p(config.aspect))
    shear = tf.random.uniform([n], -1.0, 1.0) * config.shear
    sx, sy = zoom * aspect, zoom / aspect
    cos, sin = tf.cos(angle), tf.sin(angle)
    m00, m01 = cos * sx, (cos * shear - sin) * sy
    m10, m11 = sin * sx, (sin * shear + cos) * sy
    det = m00 * m11 - m01 * m10
    # The transform maps each output pixel to the input pixel it samples: the inverse map.
    a0, a1, b0, b1 = m11 / det, -m01 / det, -m10 / det, m00 / det
    tx, ty = (tf.random.uniform([n], -1.0, 1.0) * config.shift * 28 for _ in range(2))
    c = 13.5
    zeros = tf.zeros([n])
    transforms = tf.stack(
        [a0, a1, c - a0 * (c + tx) - a1 * (c + ty), b0, b1, c - b0 * (c + tx) - b1 * (c + ty), zeros, zeros],
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


def _blur(x):
    """A 3x3 binomial blur ([1, 2, 1] / 4 each way, about a Gaussian of sigma 0.7 px)."""
    import tensorflow as tf

    p = tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]])
    rows = 0.25 * p[:, :-2] + 0.5 * p[:, 1:-1] + 0.25 * p[:, 2:]
    return 0.25 * rows[:, :, :-2] + 0.5 * rows[:, :, 1:-1] + 0.25 * rows[:, :, 2:]


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
