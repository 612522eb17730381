"""Preprocessing: any drawing or image -> the 28x28 an MNIST model expects.

Real MNIST digits throughout (data/mnist.npz). Convention checked here: the centre of
mass of the 28x28 lands on pixel (14, 14), pixel (i, j) having its centre at (i, j) -
where MNIST's own digits average (14.0, 14.0).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from images import corr, photo_of, rgba_from_alpha
from PIL import Image, ImageDraw

from cnn.drawings import draw_digit, drawn_set, zhang_suen
from cnn.errors import CnnError
from cnn.imagefile import MAX_SIDE
from cnn.preprocess import Prepared, ink_map, prepare, to_mnist

MNIST = Path(__file__).resolve().parent.parent / "data" / "mnist.npz"


# ---------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mnist() -> tuple[np.ndarray, np.ndarray]:
    with np.load(MNIST) as data:
        return data["x_test"][:200].copy(), data["y_test"][:200].copy()


def centre_of_mass(a: np.ndarray) -> tuple[float, float]:
    m = a.sum()
    return float(a.sum(axis=1) @ np.arange(a.shape[0]) / m), float(a.sum(axis=0) @ np.arange(a.shape[1]) / m)


def ink_bbox(a: np.ndarray, level: float = 0.0) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(a > level)
    return int(ys.min()), int(xs.min()), int(ys.max()) + 1, int(xs.max()) + 1


def on_canvas(digit: np.ndarray, side: int, top: int, left: int, canvas: int = 280) -> np.ndarray:
    """An MNIST digit scaled by PIL to side x side, pasted at (top, left) in the alpha
    channel of a transparent canvas."""
    alpha = np.zeros((canvas, canvas), np.uint8)
    scaled = Image.fromarray(digit).resize((side, side), Image.BILINEAR)
    alpha[top : top + side, left : left + side] = np.asarray(scaled)
    rgba = np.zeros((canvas, canvas, 4), np.uint8)
    rgba[:, :, 3] = alpha
    return rgba


def assert_is_model_input(image: np.ndarray) -> None:
    assert image.shape == (28, 28)
    assert image.dtype == np.float32
    assert image.min() >= 0.0 and image.max() <= 1.0
    assert image.max() > 0.9, "the ink should reach full strength"


# ---------------------------------------------------------------------------------------
# The MNIST recipe: fit 20x20, centre of mass at (14, 14), whatever the drawing's size/place
# ---------------------------------------------------------------------------------------


def test_output_is_float32_28x28_with_20px_box_and_centre_of_mass_at_14(mnist):
    x, _ = mnist
    for i in range(10):
        p = prepare(on_canvas(x[i], side=200, top=40, left=50))
        assert isinstance(p, Prepared)
        assert_is_model_input(p.image)
        cy, cx = centre_of_mass(p.image)
        assert abs(cy - 14.0) <= 0.5 and abs(cx - 14.0) <= 0.5, (i, cy, cx)
        top, left, bottom, right = ink_bbox(p.image, 0.05)
        assert max(bottom - top, right - left) in (19, 20, 21)
        assert max(p.fitted.shape) == 20 and min(p.fitted.shape) <= 20
        assert p.ink.shape == (280, 280) and p.ink.dtype == np.float32


def test_same_digit_small_large_or_off_centre_gives_the_same_28x28(mnist):
    x, _ = mnist
    for i in range(8):
        versions = [
            prepare(on_canvas(x[i], side=252, top=14, left=14)).image,  # large, centred
            prepare(on_canvas(x[i], side=70, top=10, left=195)).image,  # small, top right
            prepare(on_canvas(x[i], side=120, top=155, left=5)).image,  # bottom left
        ]
        for other in versions[1:]:
            assert corr(versions[0], other) > 0.9, i
            assert np.abs(versions[0] - other).mean() < 0.06, i


def test_same_drawing_at_other_sizes_and_places_gives_the_same_28x28(mnist):
    x, _ = mnist
    for i in range(6):
        # The pen scales with the drawing, so only size and place change.
        big = prepare(draw_digit(x[i], size=240, center=(140, 140), pen=24)).image
        small = prepare(draw_digit(x[i], size=80, center=(60, 210), pen=8)).image
        low = prepare(draw_digit(x[i], size=150, center=(190, 90), pen=15)).image
        assert corr(big, small) > 0.9 and corr(big, low) > 0.9, i


def test_preparing_an_upscaled_mnist_digit_reproduces_the_original(mnist):
    x, _ = mnist
    scores = []
    for i in range(60):
        big = np.asarray(Image.fromarray(x[i]).resize((280, 280), Image.NEAREST))
        scores.append(corr(to_mnist(big), x[i] / 255.0))
    # Mean well above 0.9; single digits lose a little where MNIST rounded the centring
    # shift to whole pixels and we shift by fractions.
    assert np.mean(scores) > 0.93, np.mean(scores)
    assert min(scores) > 0.8, min(scores)


def test_an_mnist_digit_itself_comes_back_almost_unchanged(mnist):
    x, _ = mnist
    scores = [corr(to_mnist(x[i]), x[i] / 255.0) for i in range(100)]
    assert np.median(scores) > 0.99


# ---------------------------------------------------------------------------------------
# Image modes and polarities
# ---------------------------------------------------------------------------------------


def test_every_image_mode_and_polarity_gives_the_same_result(mnist):
    x, _ = mnist
    alpha = draw_digit(x[3], size=180, center=(120, 150), pen=16)[:, :, 3]
    base = prepare(rgba_from_alpha(alpha)).image
    a = alpha.astype(np.float32) / 255.0
    grey_on_white = 255 - alpha
    variants = {
        "RGBA red ink": rgba_from_alpha(alpha, rgb=(220, 30, 30)),
        "RGBA white ink": rgba_from_alpha(alpha, rgb=(255, 255, 255)),
        "RGB black on white": np.stack([grey_on_white] * 3, axis=-1),
        "RGB white on black": np.stack([alpha] * 3, axis=-1),
        "opaque RGBA black on white": np.dstack([np.stack([grey_on_white] * 3, -1), np.full_like(alpha, 255)]),
        "L black on white": grey_on_white,
        "L white on black": alpha,
        "L (H, W, 1)": alpha[:, :, None],
        "float white on black": a,
        "float black on white": 1.0 - a,
        "float RGB black on white": np.stack([1.0 - a] * 3, axis=-1),
        "float64 0..255": alpha.astype(np.float64),
    }
    for name, image in variants.items():
        got = prepare(image)
        assert got is not None, name
        assert np.abs(got.image - base).max() < 0.02, name
        assert got.box == prepare(rgba_from_alpha(alpha)).box, name


def test_canvas_ink_map_is_the_alpha_channel_whatever_the_stroke_colour(mnist):
    alpha = draw_digit(mnist[0][5], size=150, center=(140, 140), pen=12)[:, :, 3]
    for rgb in [(0, 0, 0), (255, 255, 255), (10, 200, 90)]:
        np.testing.assert_allclose(ink_map(rgba_from_alpha(alpha, rgb)), alpha / 255.0, atol=1e-6)


def test_photo_of_paper_background_and_texture_are_not_ink(mnist):
    rng = np.random.default_rng(0)
    alpha = draw_digit(mnist[0][7], size=200, center=(150, 140), pen=18)[:, :, 3] / 255.0
    yy, xx = np.mgrid[0:280, 0:280] / 280.0
    paper = 0.78 + 0.06 * xx - 0.04 * yy + rng.normal(0, 0.015, (280, 280))  # uneven light, grain
    photo = paper * (1 - alpha) + 0.22 * alpha  # dark grey pencil
    photo_rgb = np.clip(np.stack([photo, photo * 0.97, photo * 0.9], -1) * 255, 0, 255).astype(np.uint8)
    ink = ink_map(photo_rgb)
    paper_only = alpha == 0
    assert np.mean(ink[paper_only] > 0.1) < 0.002, "paper texture became ink"
    assert np.mean(ink[alpha > 0.99]) > 0.9, "pencil strokes should be full ink"
    clean = prepare(rgba_from_alpha((alpha * 255).astype(np.uint8))).image
    assert corr(prepare(photo_rgb).image, clean) > 0.95


@pytest.mark.parametrize("pen", [10, 35])  # a pen and a thick marker
@pytest.mark.parametrize("kind", ["gradient", "shadow", "ruled", "all"])
def test_uneven_light_shadows_and_ruled_lines_are_normalised_away(kind, pen, mnist):
    rng = np.random.default_rng(3)
    for i in range(6):
        alpha = draw_digit(mnist[0][i], size=200 if pen > 20 else 150, center=(150, 130), pen=pen)[:, :, 3] / 255.0
        photo = photo_of(alpha, kind, rng)
        clean = prepare(rgba_from_alpha((alpha * 255).astype(np.uint8))).image
        prepared = prepare(photo)
        assert prepared is not None, (kind, i)
        paper = alpha == 0
        assert np.mean(prepared.ink[paper] > 0.1) < 0.005, "light, shadow or lines became ink"
        assert corr(prepared.image, clean) > 0.9, (kind, i)


@pytest.mark.parametrize("dark_on_white", [True, False])
def test_a_big_filled_shape_stays_ink_and_is_not_taken_for_light(dark_on_white):
    # A filled ellipse wider than the light-finding window, in a paint program's flat picture.
    img = Image.new("L", (140, 140), 225 if dark_on_white else 10)
    ImageDraw.Draw(img).ellipse([45, 10, 95, 115], fill=50 if dark_on_white else 220)
    inside = np.asarray(img) == (50 if dark_on_white else 220)
    ink = ink_map(np.asarray(img))
    assert ink[inside].mean() > 0.9, "the shape's middle was taken for a shadow"
    assert ink[~inside].max() < 0.1


@pytest.mark.parametrize("darkness", [0.25, 0.4])
def test_a_shadow_that_falls_inside_the_page_is_not_ink(darkness, mnist):
    # A hand or a phone over the middle of the sheet: no edge of the picture is shaded.
    rng = np.random.default_rng(5)
    alpha = draw_digit(mnist[0][3], canvas=400, size=140, center=(200, 200), pen=10)[:, :, 3] / 255.0
    yy, xx = np.mgrid[0:400, 0:400]
    inside = np.clip((100 - np.maximum(abs(yy - 200), abs(xx - 200))) / 30 + 0.5, 0, 1)  # soft-edged square
    paper = 235 * (1 - darkness * inside) + rng.normal(0, 3, (400, 400))
    photo = np.clip(paper * (1 - 0.8 * alpha), 0, 255).astype(np.uint8)
    prepared = prepare(photo)
    shaded_paper = (inside > 0.9) & (alpha == 0)
    assert np.mean(prepared.ink[shaded_paper] > 0.3) < 0.01, "the shadow became ink"
    clean = prepare(rgba_from_alpha((alpha * 255).astype(np.uint8)))
    assert corr(prepared.image, clean.image) > 0.9


def test_a_faint_pencil_digit_under_a_shadow_is_still_found(mnist):
    alpha = draw_digit(mnist[0][2], size=120, center=(140, 140), pen=6)[:, :, 3] / 255.0
    photo = photo_of(alpha, "all", np.random.default_rng(4), darkness=0.3)
    clean = prepare(rgba_from_alpha((alpha * 255).astype(np.uint8))).image
    assert corr(prepare(photo).image, clean) > 0.9


# ---------------------------------------------------------------------------------------
# Blank canvases, specks, multi-stroke digits
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "transparent",
        "white",
        "black",
        "grey",
        "grey float",
        "noise on white",
        "faint alpha noise",
        "a few stray pixels",
        "near-invisible drawing",
        "near-invisible pencil on paper",
    ],
)
def test_blank_or_noise_only_images_are_not_a_digit(name, mnist):
    rng = np.random.default_rng(1)
    images = {
        "transparent": np.zeros((280, 280, 4), np.uint8),
        "white": np.full((280, 280, 3), 255, np.uint8),
        "black": np.zeros((280, 280, 3), np.uint8),
        "grey": np.full((280, 280), 128, np.uint8),
        "grey float": np.full((64, 64), 0.4, np.float32),
        "noise on white": np.clip(255 + rng.normal(0, 3, (280, 280, 3)), 0, 255).astype(np.uint8),
        "faint alpha noise": rgba_from_alpha(rng.integers(0, 10, (280, 280)).astype(np.uint8)),
        "a few stray pixels": rgba_from_alpha(np.zeros((280, 280), np.uint8)),
    }
    faint = draw_digit(mnist[0][0], size=200, center=(140, 140), pen=20)[:, :, 3] // 24  # alpha <= 10
    images["near-invisible drawing"] = rgba_from_alpha(faint)
    images["near-invisible pencil on paper"] = (240 - faint).astype(np.uint8)
    image = images[name]
    if name == "a few stray pixels":
        image[rng.integers(0, 280, 6), rng.integers(0, 280, 6), 3] = 255
    assert prepare(image) is None
    assert to_mnist(image) is None


def test_a_speck_far_from_the_digit_does_not_move_it(mnist):
    drawing = draw_digit(mnist[0][1], size=160, center=(170, 120), pen=14)
    clean = prepare(drawing)
    specked = drawing.copy()
    yy, xx = np.mgrid[0:280, 0:280]
    dot = ((yy - 20) ** 2 + (xx - 260) ** 2) <= 36  # a 12 px dot in a corner
    specked[:, :, 3] = np.maximum(specked[:, :, 3], dot * 255).astype(np.uint8)
    result = prepare(specked)
    assert result.box == clean.box
    assert np.abs(result.image - clean.image).max() < 1e-6
    assert result.ink[20, 260] == 1.0, "the teaching view still shows the speck in the ink map"


def _strokes_canvas(strokes: list[list[tuple[int, int]]], width: int = 16) -> np.ndarray:
    img = Image.new("L", (280, 280), 0)
    draw = ImageDraw.Draw(img)
    for points in strokes:
        draw.line(points, fill=255, width=width, joint="curve")
        for x, y in (points[0], points[-1]):
            draw.ellipse((x - width / 2, y - width / 2, x + width / 2, y + width / 2), fill=255)
    return rgba_from_alpha(np.asarray(img))


def test_a_four_drawn_as_two_separate_strokes_keeps_both():
    # An open "L" on the left, and an upright stroke on the right that does not touch it.
    four = _strokes_canvas([[(110, 50), (80, 160), (170, 160)], [(195, 60), (195, 240)]])
    p = prepare(four)
    top, left, bottom, right = p.box
    assert left <= 75 and right >= 200 and top <= 45 and bottom >= 245
    image = p.image
    assert image[:, :12].sum() > 5 and image[:, 18:].sum() > 5


def test_a_five_with_a_separate_short_top_bar_keeps_the_bar():
    # The bar holds under a quarter of the body's ink and stands apart from it: a small
    # stroke, but close to the digit, so part of it.
    body = [(105, 75), (100, 140), (170, 140), (180, 200), (150, 240), (100, 230)]
    bar = [(120, 42), (180, 42)]
    p = prepare(_strokes_canvas([body, bar]))
    without_bar = prepare(_strokes_canvas([body]))
    assert p.box[0] <= 36 and p.box[3] >= 186, p.box
    assert without_bar.box[0] >= 60
    assert p.image[:8].sum() > 5


def test_a_small_stroke_far_from_the_digit_is_dropped_but_kept_when_close():
    # A smaller "5" body on the left; a short dash (under a quarter of its ink) either far
    # to the right (a stray mark) or just above it (the five's bar).
    body = [
        (x * 6 // 10 + 10, y * 6 // 10 + 60)
        for x, y in [(105, 75), (100, 140), (170, 140), (180, 200), (150, 240), (100, 230)]
    ]
    alone = prepare(_strokes_canvas([body]))
    far = prepare(_strokes_canvas([body, [(230, 150), (258, 150)]]))
    close = prepare(_strokes_canvas([body, [(80, 80), (108, 80)]]))
    assert far.box == alone.box
    np.testing.assert_allclose(far.image, alone.image, atol=1e-6)
    assert close.box[0] <= 73 < alone.box[0]


# ---------------------------------------------------------------------------------------
# Malformed arrays
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "image, hint",
    [
        (np.zeros(100, np.uint8), "shape"),
        (np.zeros((0, 0), np.uint8), "empty"),
        (np.zeros((28, 0, 3), np.uint8), "empty"),
        (np.zeros((28, 28, 5), np.uint8), "channels"),
        (np.zeros((2, 28, 28, 1), np.uint8), "shape"),
        (np.full((28, 28), np.nan, np.float32), "NaN"),
        (np.full((28, 28), np.inf), "NaN"),
        (np.full((28, 28), -7.0), "Scale"),
        (np.full((28, 28), 1e6), "Scale"),
        (np.full((28, 28), 1 + 2j), "type"),
        (np.array([["a", "b"], ["c", "d"]]), "type"),
        (np.zeros((MAX_SIDE + 904, MAX_SIDE + 904), np.uint8), "Shrink"),
    ],
)
def test_malformed_arrays_raise_a_helpful_cnn_error(image, hint):
    with pytest.raises(CnnError, match=hint) as info:
        prepare(image)
    assert len(str(info.value)) > 40  # says what went wrong and what to do


# ---------------------------------------------------------------------------------------
# Synthetic drawings
# ---------------------------------------------------------------------------------------


def test_zhang_suen_thins_a_bar_to_one_pixel():
    bar = np.zeros((20, 40), bool)
    bar[6:14, 4:36] = True
    skeleton = zhang_suen(bar)
    assert skeleton.any()
    assert skeleton.sum(axis=0).max() == 1  # one pixel thick
    assert not (skeleton[:-1, :-1] & skeleton[1:, 1:] & skeleton[:-1, 1:] & skeleton[1:, :-1]).any()


def test_draw_digit_draws_in_alpha_only_inside_the_requested_box(mnist):
    image = draw_digit(mnist[0][0], size=120, center=(100.0, 180.0), pen=12, rng=np.random.default_rng(0))
    assert image.shape == (280, 280, 4) and image.dtype == np.uint8
    assert not image[:, :, :3].any(), "the ink lives in alpha, like the canvas's transparent drawing"
    alpha = image[:, :, 3]
    assert alpha.max() == 255 and 0 < (alpha > 0).mean() < 0.2
    top, left, bottom, right = ink_bbox(alpha)
    assert abs((bottom - top) - 120) <= 2
    assert abs((top + bottom) / 2 - 100) <= 1.5 and abs((left + right) / 2 - 180) <= 1.5
    # Anti-aliased: the pen's edge has grey levels.
    assert ((alpha > 0) & (alpha < 255)).sum() > 100


def test_drawn_digit_is_recognisably_the_same_digit(mnist):
    x, _ = mnist
    scores = [corr(to_mnist(draw_digit(x[i], size=200, center=(140, 140), pen=20)), x[i]) for i in range(20)]
    assert np.mean(scores) > 0.75


def test_drawn_set_is_deterministic_and_fully_inside_the_canvas():
    images, labels = drawn_set(12, seed=7)
    again, labels_again = drawn_set(12, seed=7)
    other, _ = drawn_set(12, seed=8)
    assert images.shape == (12, 280, 280, 4) and images.dtype == np.uint8
    assert labels.shape == (12,) and set(labels.tolist()) <= set(range(10))
    np.testing.assert_array_equal(images, again)
    np.testing.assert_array_equal(labels, labels_again)
    assert not np.array_equal(images, other)
    alpha = images[:, :, :, 3]
    assert not alpha[:, 0, :].any() and not alpha[:, -1, :].any()
    assert not alpha[:, :, 0].any() and not alpha[:, :, -1].any()
    for image in images:
        assert prepare(image) is not None
