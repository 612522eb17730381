"""Reading what people actually draw: refusal of non-digits, calibration, photos, typed digits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from images import photo_of, rgba_from_alpha
from PIL import Image, ImageDraw

from cnn.drawings import draw_digit
from cnn.predict import calibrate, classifier_for, expected_calibration_error, fit_temperature
from cnn.preprocess import no_digit_reason, prepare

MNIST = Path(__file__).resolve().parent.parent / "data" / "mnist.npz"


@pytest.fixture(scope="module")
def mnist() -> tuple[np.ndarray, np.ndarray]:
    with np.load(MNIST) as data:
        return data["x_test"][:40].copy(), data["y_test"][:40].copy()


def canvas(draw) -> np.ndarray:
    """A transparent 280x280 canvas with whatever ``draw(ImageDraw)`` strokes in its alpha."""
    img = Image.new("L", (280, 280), 0)
    draw(ImageDraw.Draw(img))
    return rgba_from_alpha(np.asarray(img))


NON_DIGITS = {
    "a filled disc": lambda d: d.ellipse([60, 60, 220, 200], fill=255),
    "one dot": lambda d: d.ellipse([120, 120, 140, 140], fill=255),
    "two dots": lambda d: (d.ellipse([60, 60, 90, 90], fill=255), d.ellipse([150, 180, 170, 200], fill=255)),
    "three dots": lambda d: [d.ellipse([x, y, x + 25, y + 25], fill=255) for x, y in ((40, 50), (150, 90), (90, 200))],
    "a filled square": lambda d: d.rectangle([50, 70, 230, 220], fill=255),
    "five stripes": lambda d: [d.line([(30, y), (250, y + 5)], fill=255, width=12) for y in range(40, 260, 50)],
    "a grid": lambda d: [
        d.line(line, fill=255, width=10)
        for k in range(40, 260, 60)
        for line in ([(k, 30), (k, 250)], [(30, k), (250, k)])
    ],
    "a smiley": lambda d: (
        d.ellipse([40, 40, 240, 240], outline=255, width=12),
        d.ellipse([95, 100, 115, 120], fill=255),
        d.ellipse([165, 100, 185, 120], fill=255),
        d.arc([90, 120, 190, 200], 20, 160, fill=255, width=12),
    ),
}


@pytest.mark.parametrize("name", list(NON_DIGITS))
def test_non_digits_are_refused_with_a_reason(name, good_run):
    prediction = classifier_for(good_run).classify(canvas(NON_DIGITS[name]))
    assert prediction is None or prediction.refused, (name, prediction and prediction.top())
    if prediction is not None:
        assert isinstance(prediction.refused, str) and len(prediction.refused) > 5


def test_marks_inside_a_loop_are_a_face_but_one_mark_is_a_dotted_zero():
    from cnn.predict import refusal

    sure_zero = np.eye(10, dtype=np.float32)[0]  # the rules, not the model's doubt, must refuse
    ring = lambda d: d.ellipse([60, 30, 220, 250], outline=255, width=14)  # noqa: E731
    eye = lambda d, x, size=24: d.ellipse([x, 100, x + size, 100 + size], fill=255)  # noqa: E731
    face = prepare(canvas(lambda d: (ring(d), eye(d, 95), eye(d, 160))))
    # Eyes a tenth of the face across are 2-3 pixels in the 28x28, smaller than a mark counts.
    small_eyes = prepare(canvas(lambda d: (ring(d), eye(d, 95, 14), eye(d, 160, 14))))
    dotted_zero = prepare(canvas(lambda d: (ring(d), eye(d, 128))))
    # A narrow face fits into 11x20 pixels, where its eyes run into its outline and mouth.
    narrow = prepare(
        canvas(
            lambda d: (
                d.ellipse([80, 30, 200, 250], outline=255, width=14),
                eye(d, 109, 14),
                eye(d, 157, 14),
                d.arc([104, 110, 176, 200], 20, 160, fill=255, width=14),
            )
        )
    )
    assert "inside a loop" in refusal(face, sure_zero)
    assert "inside a loop" in refusal(small_eyes, sure_zero)
    assert "inside a loop" in refusal(narrow, sure_zero)
    # Dust inside a zero is dropped as specks before the digit is read, and stays dropped.
    dusty_zero = prepare(canvas(lambda d: (ring(d), eye(d, 110, 11), eye(d, 160, 11))))
    assert refusal(dusty_zero, sure_zero) is None
    assert refusal(dotted_zero, sure_zero) is None


def test_a_filled_bar_is_a_block_but_a_markers_straight_one_is_not():
    from functools import partial

    from cnn.predict import refusal

    sure_one = np.eye(10, dtype=np.float32)[1]
    bar = prepare(canvas(lambda d: d.rectangle([100, 40, 180, 240], fill=255)))  # 2.5 times as long as wide

    def marker_one(d, length=180, pen=40):  # the widest marker's 1 is 40 px for 180, round at both ends
        ends = (140 - length // 2, 140 + length // 2)
        d.line([(140, ends[0]), (140, ends[1])], fill=255, width=pen)
        for y in ends:
            d.ellipse([140 - pen / 2, y - pen / 2, 140 + pen / 2, y + pen / 2], fill=255)

    assert "filled" in refusal(bar, sure_one)
    # Short strokes of that pen fill up to 0.93 of their box, but leave its corners blank.
    for length in (180, 110, 70):
        assert refusal(prepare(canvas(partial(marker_one, length=length))), sure_one) is None, length


@pytest.mark.parametrize(
    "image, reason",
    [
        (np.zeros((280, 280, 4), np.uint8), "nothing is drawn"),
        (rgba_from_alpha(np.full((280, 280), 255, np.uint8)), "the whole picture is ink"),
        (np.zeros((200, 200), np.uint8), "the whole picture is ink"),
        (np.full((200, 200, 3), 250, np.uint8), "nothing is drawn"),
    ],
)
def test_pictures_without_a_digit_say_why(image, reason):
    assert prepare(image) is None
    assert no_digit_reason(image) == reason


def test_a_few_specks_say_they_are_too_small():
    image = canvas(lambda d: [d.point([(100, 100), (101, 100), (200, 50)], fill=255)])
    assert prepare(image) is None
    assert "specks" in no_digit_reason(image)


def test_drawn_digits_are_read_not_refused(good_run, mnist):
    classifier = classifier_for(good_run)
    x, y = mnist
    predictions = [classifier.classify(draw_digit(x[i], size=180, center=(140, 140), pen=14)) for i in range(len(x))]
    refused = [i for i, p in enumerate(predictions) if p is None or p.refused]
    assert len(refused) <= 1, refused
    right = np.mean([p is not None and p.digit == y[i] for i, p in enumerate(predictions)])
    assert right >= 0.9


@pytest.mark.parametrize("kind", ["gradient", "shadow", "ruled", "all"])
def test_photos_with_uneven_light_shadows_and_ruled_lines_are_read_right(kind, good_run, mnist):
    classifier = classifier_for(good_run)
    x, y = mnist
    rng = np.random.default_rng(5)
    right = 0
    for i in range(10):
        alpha = draw_digit(x[i], size=170, center=(145, 135), pen=12)[:, :, 3] / 255.0
        prediction = classifier.classify(photo_of(alpha, kind, rng))
        right += prediction is not None and not prediction.refused and prediction.digit == y[i]
    assert right >= 9, (kind, right)


def test_temperature_scaling_softens_an_overconfident_model():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 2000)
    logits = rng.normal(0, 1, (2000, 10))
    logits[np.arange(2000), labels] += 2.0  # right about 75% of the time ...
    p = np.exp(3 * logits)  # ... but far surer than that
    p /= p.sum(axis=1, keepdims=True)
    t = fit_temperature(p, labels)
    assert t > 1.2
    right = p.argmax(axis=1) == labels
    assert expected_calibration_error(calibrate(p, t), right) < 0.5 * expected_calibration_error(p, right)
    np.testing.assert_allclose(calibrate(p, t).sum(axis=1), 1.0, atol=1e-5)
    assert (calibrate(p, t).argmax(axis=1) == p.argmax(axis=1)).all()


def test_typed_digits_come_from_system_fonts_never_the_yardsticks():
    from cnn.fonts import font_digits, font_files

    assert not any("aileron" in path.name.lower() for path in font_files())
    images, labels = font_digits()
    if not len(labels):
        pytest.skip("no fonts on this machine")
    assert images.shape[1:] == (28, 28) and set(labels.tolist()) == set(range(10))
    assert (labels == 1).sum() > (labels == 2).sum()  # 1s come with and without a foot


def test_a_typed_one_loses_its_foot_and_keeps_its_flag():
    from cnn.fonts import _without_foot

    glyph = np.zeros((100, 60), np.uint8)
    glyph[10:95, 25:35] = 255  # stem
    glyph[10:20, 10:25] = 255  # flag
    glyph[88:95, 5:55] = 255  # foot
    footless = _without_foot(glyph)
    assert footless is not None and not footless[88:].any() and footless[10:20, 10:25].all()
    assert _without_foot(footless) is None


def test_non_digits_for_training_are_not_digits_and_come_prepared():
    from cnn.outliers import KINDS, non_digits, outlier_images

    images = outlier_images()
    assert images.shape[1:] == (28, 28) and len(images) > 1000
    _, kinds = non_digits(len(KINDS))
    assert kinds == list(KINDS)


def test_the_loss_pulls_non_digits_towards_equal_probabilities():
    import tensorflow as tf

    from cnn.train import digit_or_not_loss

    sure = tf.constant([[0.91] + [0.01] * 9])
    even = tf.constant([[0.1] * 10])
    loss = lambda y, p: float(digit_or_not_loss(tf.constant([y]), p)[0])  # noqa: E731
    assert loss(0, sure) < loss(0, even)  # a digit: sure and right is best
    assert loss(-1, even) < loss(-1, sure)  # a non-digit: no digit at all is best
