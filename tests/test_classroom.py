"""Many students on one server: shared models, concurrent classification, hostile uploads."""

from __future__ import annotations

import io
import random
import shutil
import threading

import numpy as np
import pytest
from PIL import Image

from cnn import store
from cnn.drawings import drawn_set
from cnn.errors import CnnError
from cnn.imagefile import decode_image
from cnn.predict import classifier_for, loaded_classifier


def test_a_model_is_loaded_once_and_shared_by_every_thread(good_run):
    seen = []
    threads = [threading.Thread(target=lambda: seen.append(classifier_for(good_run))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(c) for c in seen}) == 1


def test_concurrent_classification_gives_the_same_answers_as_one_at_a_time(good_run):
    images, labels = drawn_set(40, seed=3)
    classifier = classifier_for(good_run)
    expected = [classifier.classify(a).probabilities for a in images]
    results: dict[int, np.ndarray] = {}
    errors = []

    def student(indices):
        try:
            for i in indices:
                results[i] = classifier_for(good_run).classify(images[i]).probabilities
        except Exception as exc:  # pragma: no cover - the assertion below reports it
            errors.append(exc)

    threads = [threading.Thread(target=student, args=(range(k, 40, 8),)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for i in range(40):
        np.testing.assert_allclose(results[i], expected[i], atol=1e-5)
    assert np.mean([p.argmax() == y for p, y in zip(expected, labels)]) > 0.8


def test_a_replaced_model_file_is_reloaded(good_run, tiny_result, runs_dir):
    before = classifier_for(good_run)
    assert loaded_classifier(good_run) is before
    other = store.save_run(tiny_result[0], "other", runs_dir)
    shutil.copyfile(other.model_path, good_run.model_path)  # the run's file changed on disk
    replaced = store.get_run(good_run.id, runs_dir)
    assert loaded_classifier(replaced) is None, "not loaded yet, and not loaded by asking"
    after = classifier_for(replaced)
    assert after is not before and loaded_classifier(replaced) is after


def _digit_file(fmt: str, mode: str = "L") -> bytes:
    from cnn.data import load_mnist

    digit = Image.fromarray(255 - load_mnist().x_test[0]).resize((84, 84)).convert(mode)
    buf = io.BytesIO()
    digit.save(buf, format=fmt)
    return buf.getvalue()


def _mutations(seed: int, count: int):
    rng = random.Random(seed)
    originals = [
        _digit_file("PNG"),
        _digit_file("JPEG"),
        _digit_file("GIF", "P"),
        _digit_file("BMP"),
        _digit_file("TIFF"),
        _digit_file("WEBP"),
        _digit_file("PNG", "RGBA"),
        _digit_file("PNG", "1"),
    ]
    for _ in range(count):
        data = bytearray(rng.choice(originals))
        kind = rng.randrange(5)
        if kind == 0:  # flip bytes
            for _ in range(rng.randint(1, 20)):
                data[rng.randrange(len(data))] = rng.randrange(256)
        elif kind == 1:  # truncate
            data = data[: rng.randrange(1, len(data))]
        elif kind == 2:  # header damage (sizes, chunk lengths)
            for _ in range(rng.randint(1, 4)):
                data[rng.randrange(min(len(data), 64))] = rng.randrange(256)
        elif kind == 3:  # splice two files
            other = rng.choice(originals)
            cut = rng.randrange(len(data))
            data = data[:cut] + other[rng.randrange(len(other)) :]
        else:  # pure noise
            data = bytearray(rng.randbytes(rng.randint(1, 4000)))
        yield bytes(data)


def test_fuzzed_uploads_are_classified_or_refused_cleanly(good_run):
    classifier = classifier_for(good_run)
    outcomes = {"classified": 0, "blank": 0, "refused": 0}
    for data in _mutations(seed=1, count=300):
        try:
            prediction = classifier.classify(decode_image(data))
        except CnnError as exc:
            assert str(exc)  # a message the user can act on
            outcomes["refused"] += 1
            continue
        if prediction is None:
            outcomes["blank"] += 1
        else:
            assert prediction.probabilities.shape == (10,) and abs(prediction.probabilities.sum() - 1) < 1e-3
            outcomes["classified"] += 1
    assert outcomes["refused"] > 50 and outcomes["classified"] > 20  # both paths were exercised


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: Image.new("L", (5000, 10)), "largest accepted"),
        (lambda: Image.new("1", (4096, 4096)), "megapixels accepted"),  # 16.8 Mpixel, tiny file
    ],
)
def test_huge_dimensions_are_refused_before_decoding(make, message):
    buf = io.BytesIO()
    make().save(buf, format="PNG")
    with pytest.raises(CnnError, match=message):
        decode_image(buf.getvalue())


def test_animated_sixteen_bit_and_palette_images_are_read(good_run):
    from cnn.data import load_mnist

    digit = 255 - load_mnist().x_test[0]  # a 7, dark on white
    frames = [Image.fromarray(digit).resize((84, 84)), Image.new("L", (84, 84), 255)]
    gif = io.BytesIO()
    frames[0].save(gif, format="GIF", save_all=True, append_images=frames[1:])
    sixteen = io.BytesIO()
    Image.fromarray(digit.astype(np.uint16) * 257).resize((84, 84)).save(sixteen, format="PNG")
    palette = io.BytesIO()
    Image.fromarray(digit).resize((84, 84)).convert("P").save(palette, format="PNG")
    classifier = classifier_for(good_run)
    for data in (gif.getvalue(), sixteen.getvalue(), palette.getvalue()):
        assert classifier.classify(decode_image(data)).digit == 7
