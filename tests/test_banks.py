"""The generated training banks kept on disk (cnn.banks)."""

from __future__ import annotations

import numpy as np
import pytest

from cnn import banks


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CNN_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


class Drawer:
    """A bank maker that counts its calls."""

    def __init__(self):
        self.calls = 0

    def __call__(self) -> dict[str, np.ndarray]:
        self.calls += 1
        return {"images": np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28), "labels": np.array([3, 7])}


def test_a_bank_is_drawn_once_then_read_from_disk(cache, tmp_path):
    font = tmp_path / "a.ttf"
    font.write_bytes(b"font")
    draw = Drawer()
    first = banks.cached("typed-digits", draw, [font])
    again = banks.cached("typed-digits", draw, [font])
    assert draw.calls == 1
    assert all(np.array_equal(first[k], again[k]) for k in ("images", "labels"))
    assert again["images"].dtype == np.uint8 and [p.suffix for p in cache.iterdir()] == [".npz"]


def test_other_fonts_make_a_new_bank_and_the_old_one_goes(cache, tmp_path):
    font = tmp_path / "a.ttf"
    font.write_bytes(b"font")
    draw = Drawer()
    banks.cached("typed-digits", draw, [font])
    font.write_bytes(b"another version of the font")
    banks.cached("typed-digits", draw, [font])
    assert draw.calls == 2 and len(list(cache.glob("typed-digits-*.npz"))) == 1


def test_a_damaged_cache_is_drawn_again(cache):
    draw = Drawer()
    banks.cached("non-digits", draw, [])
    (saved,) = cache.iterdir()
    saved.write_bytes(saved.read_bytes()[:100])  # a crash mid-write by older code, a full disk
    bank = banks.cached("non-digits", draw, [])
    assert draw.calls == 2 and bank["labels"].tolist() == [3, 7]
    assert banks.cached("non-digits", draw, [])["labels"].tolist() == [3, 7] and draw.calls == 2


def test_a_cache_that_cannot_be_written_is_no_error(tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder would be")
    monkeypatch.setenv("CNN_CACHE_DIR", str(blocker))
    draw = Drawer()
    assert banks.cached("non-digits", draw, [])["labels"].tolist() == [3, 7]
    assert banks.cached("non-digits", draw, [])["labels"].tolist() == [3, 7] and draw.calls == 2
