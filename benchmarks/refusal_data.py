"""Data to tune the refusal on, kept apart from the yardstick (``cnn.handwriting``'s sets).

Non-digits: ``cnn.outliers.non_digits`` with seed 1234 (training mixes in seed 0's).

``digits(n, seed)``: digits that must not be refused: MNIST training images the fast
default holds out for validation, MNIST test digits re-stroked on a canvas
(``cnn.drawings``), with a hairline pen, or photographed, and digits typed in the
system's fonts, at random sizes and places.

``python benchmarks/refusal_data.py`` prints how many of each the refusal turns away for
a freshly trained fast default (or ``--run``), and the rates per reason.
"""

from __future__ import annotations

import argparse
import math
import os
import re

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from cnn.outliers import SIDE, _canvas, _fonts, non_digits

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _photo(alpha: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A drawing (alpha in [0, 1]) photographed: a light gradient, maybe a shadow and ruled lines."""
    h, w = alpha.shape
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    gx, gy = rng.uniform(-0.3, 0.3, 2)
    light = rng.uniform(0.7, 0.95) * (1 + gx * (xx - 0.5) + gy * (yy - 0.5))
    if rng.random() < 0.5:
        a = rng.uniform(0, 2 * math.pi)
        d = (xx - 0.5) * math.cos(a) + (yy - 0.5) * math.sin(a) - rng.uniform(0.1, 0.4)
        light *= 1 - rng.uniform(0.1, 0.3) * np.clip(0.5 + d / rng.uniform(0.05, 0.2), 0, 1)
    page = np.ones((h, w))
    if rng.random() < 0.5:
        gap = rng.uniform(0.1, 0.25) * h
        rows = yy * h + math.tan(math.radians(rng.uniform(-5, 5))) * xx * w
        dist = np.abs((rows % gap) - gap / 2)
        page -= rng.uniform(0.05, 0.15) * np.clip(dist - gap / 2 + 1.5, 0, 1)
    picture = light * page * (1 - rng.uniform(0.4, 0.85) * alpha) + rng.normal(0, rng.uniform(1, 5) / 255, (h, w))
    return np.clip(np.round(picture * 255), 0, 255).astype(np.uint8)


def digits(n: int, seed: int = 1234) -> tuple[list[np.ndarray], np.ndarray, list[str]]:
    """n digits, a fifth each: MNIST validation images, MNIST test digits re-stroked on a
    canvas (``cnn.drawings``), re-stroked with a hairline pen, re-stroked and photographed
    (light gradients, shadows, ruled lines), typed in the system's fonts. Returns the
    images, their labels and where each came from."""
    from cnn.config import TrainConfig
    from cnn.data import load_mnist
    from cnn.drawings import draw_digit, drawn_set
    from cnn.train import split

    rng = np.random.default_rng([seed, 78])
    k = n // 5
    mnist = load_mnist()
    _, _, x_val, y_val = split(TrainConfig(), mnist)
    pick = rng.choice(len(x_val), k, replace=False)
    images = [x for x in x_val[pick]]
    labels = list(y_val[pick])
    canvases, drawn_labels = drawn_set(k, seed=seed)
    images += list(canvases)
    labels += list(drawn_labels)
    for style in ("hairline", "photo"):
        for i in rng.choice(len(mnist.x_test), k, replace=False):
            pen = rng.uniform(2, 5) if style == "hairline" else rng.uniform(4, 30)
            size = rng.uniform(60, 250)
            centre = (rng.uniform(size / 2 + 5, 275 - size / 2), rng.uniform(size / 2 + 5, 275 - size / 2))
            drawn = draw_digit(mnist.x_test[i], size=size, center=centre, pen=pen, rng=rng)
            images.append(drawn if style == "hairline" else _photo(drawn[:, :, 3] / 255.0, rng))
            labels.append(int(mnist.y_test[i]))
    fonts = _fonts()
    for _ in range(n - 4 * k):
        digit = int(rng.integers(10))
        img = Image.new("L", (SIDE, SIDE), 0)
        font = ImageFont.truetype(fonts[int(rng.integers(len(fonts)))], int(rng.integers(50, 160)))
        ImageDraw.Draw(img).text(
            tuple(SIDE / 2 + rng.uniform(-30, 30, 2)), str(digit), font=font, fill=255, anchor="mm"
        )
        images.append(_canvas(img.rotate(rng.uniform(-10, 10), resample=Image.BILINEAR), rng))
        labels.append(digit)
    origin = ["mnist"] * k + ["restroked"] * k + ["hairline"] * k + ["photo"] * k + ["typed"] * (n - 4 * k)
    return images, np.asarray(labels), origin


def main(argv=None) -> None:
    from collections import Counter

    from cnn import store
    from cnn.predict import Classifier, classifier_for

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", help="a saved run id (default: train the fast default)")
    parser.add_argument("-n", type=int, default=600, help="images of each set")
    args = parser.parse_args(argv)
    if args.run:
        classifier = classifier_for(store.get_run(args.run))
    else:
        from cnn.config import TrainConfig
        from cnn.train import train

        result = train(TrainConfig())
        classifier = Classifier(result.model, result.config)
    for title, (images, tags) in (
        ("digits (should be read)", digits(args.n)[::2]),
        ("non-digits (should be refused)", non_digits(args.n)),
    ):
        reasons = Counter()
        for image, tag in zip(images, tags):
            reasons[(tag, reason(classifier.classify(image)))] += 1
        print(f"{title}:")
        for (tag, why), count in sorted(reasons.items()):
            print(f"  {tag:10} {why:50} {count:4} ({count / tags.count(tag):.0%})")


def reason(prediction) -> str:
    """Why a picture was refused, its numbers left out ("3 dots" and "2 dots" are one reason)."""
    if prediction is None:
        return "no digit found"
    return re.sub(r"\d+%?", "N", prediction.refused.split(" (")[0]) if prediction.refused else "read"


if __name__ == "__main__":
    main()
