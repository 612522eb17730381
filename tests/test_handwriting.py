"""The honest yardstick (cnn.handwriting): deterministic, complete, labelled right, shipped as generated."""

from __future__ import annotations

import numpy as np
import pytest

from cnn import handwriting as hw


@pytest.fixture(scope="module")
def shipped():
    return hw.load_drawn_set()


@pytest.fixture(scope="module")
def shipped_non_digits():
    return hw.load_non_digits()


def _spread(n_total: int, k: int) -> list[int]:
    """k indices spread over the set (every source, style and digit gets some)."""
    return sorted({int(i) for i in np.linspace(0, n_total - 1, k)})


def test_generator_is_deterministic_per_seed():
    picks = [0, 333, 1234, 2559]
    a, b = hw.generate_digits(indices=picks), hw.generate_digits(indices=picks)
    assert np.array_equal(a.planes, b.planes) and np.array_equal(a.variant, b.variant)
    other = hw.generate_digits(seed=hw.SEED + 1, indices=picks)
    assert not np.array_equal(a.planes, other.planes)
    # One image alone is the same image as within the set.
    alone = hw.generate_digits(indices=[1234])
    assert np.array_equal(alone.planes[0], a.planes[2])


def test_sensor_noise_is_bit_exact_and_unit_sigma():
    n = hw.sensor_noise(7, (140, 140))
    assert n.shape == (140, 140) and np.array_equal(n, hw.sensor_noise(7, (140, 140)))
    assert abs(n.mean()) < 0.03 and 0.97 < n.std() < 1.03
    # A fixed fingerprint: the same pixels on any machine (pure uint64 and float64 arithmetic).
    fixed = hw.sensor_noise(1, (8, 8))
    assert (round(float(fixed[0, 0]), 12), round(float(fixed[7, 7]), 12)) == (0.139095816044, -1.427641609547)
    assert not np.array_equal(n, hw.sensor_noise(8, (140, 140)))


def test_shipped_set_has_every_class_source_style_and_form(shipped):
    n = len(hw.SOURCES) * len(hw.STYLES) * 10 * hw.PER_CELL
    assert len(shipped) == n
    assert shipped.planes.shape == (n, hw.CANVAS, hw.CANVAS) and shipped.planes.dtype == np.uint8
    assert shipped.labels.dtype == np.int16
    assert np.bincount(shipped.labels, minlength=10).tolist() == [n // 10] * 10
    assert set(shipped.source.tolist()) == set(hw.SOURCES)
    assert set(shipped.style.tolist()) == set(hw.STYLES)
    assert set(hw.VARIANTS) <= set(shipped.variant.tolist())
    for digit, forms in hw.TEMPLATES.items():  # each form is drawn as its own digit
        m = np.isin(shipped.variant, list(forms))
        assert set(shipped.labels[m].tolist()) == {digit}
    # Every image has ink; photos have noise, nothing else does.
    assert (shipped.planes.reshape(n, -1).std(axis=1) > 1).all()
    assert ((shipped.noise > 0) == (shipped.style == "photo")).all()


def test_shipped_files_match_the_generator(shipped, shipped_non_digits):
    picks = _spread(len(shipped), 48)
    fresh = hw.generate_digits(indices=picks)
    for name in ("labels", "source", "style", "variant", "height", "pen", "noise", "noise_key"):
        assert np.array_equal(getattr(fresh, name), getattr(shipped, name)[picks]), name
    diff = np.abs(fresh.planes.astype(np.int16) - shipped.planes[picks])
    typed = fresh.source == "typed"  # FreeType's version may move anti-aliasing a little
    assert diff[~typed].max() == 0
    assert diff[typed].mean() < 1.0
    picks = _spread(len(shipped_non_digits), 18)
    fresh = hw.generate_non_digits(indices=picks)
    assert np.array_equal(fresh.source, shipped_non_digits.source[picks])
    assert np.abs(fresh.planes.astype(np.int16) - shipped_non_digits.planes[picks]).mean() < 0.05


def test_files_come_as_the_app_receives_them(shipped):
    i = int(np.flatnonzero(shipped.style == "rgba")[0])
    canvas = shipped.image(i)
    assert canvas.shape == (hw.CANVAS, hw.CANVAS, 4) and canvas.dtype == np.uint8
    assert np.array_equal(canvas[..., 3], shipped.planes[i]) and not canvas[..., :3].any()
    j = int(np.flatnonzero(shipped.style == "dark-on-white")[0])
    assert shipped.image(j).shape == (hw.CANVAS, hw.CANVAS)
    assert np.median(shipped.image(j)) > 200  # dark ink on a light background


def test_save_and_load_round_trip(tmp_path):
    s = hw.generate_digits(indices=[5, 1500, 2300])  # includes a photo (noise) and a typed digit
    path = tmp_path / "d.npz"
    hw.save(path, s, hw.SEED)
    back = hw.load(path)
    assert np.array_equal(back.planes, s.planes) and np.array_equal(back.labels, s.labels)
    assert np.array_equal(back.source, s.source) and np.array_equal(back.noise_key, s.noise_key)


def test_non_digits_load_with_every_kind(shipped_non_digits):
    s = shipped_non_digits
    assert len(s) == len(hw.NON_DIGIT_KINDS) * hw.NON_DIGITS_PER_KIND
    assert s.planes.shape == (len(s), hw.CANVAS, hw.CANVAS) and (s.labels == -1).all()
    assert set(s.kind.tolist()) == set(hw.NON_DIGIT_KINDS)
    assert set(s.style.tolist()) == set(hw.STYLES)


def test_a_trained_model_reads_the_drawings(good_run, shipped):
    """Labels are right: a ~97% MNIST model reads a spread sample far above chance."""
    from cnn.predict import classifier_for

    classifier = classifier_for(good_run)
    picks = _spread(len(shipped), 160)
    right = [(p := classifier.classify(shipped.image(i))) is not None and p.digit == shipped.labels[i] for i in picks]
    assert np.mean(right) > 0.75, np.mean(right)
