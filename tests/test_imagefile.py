"""Untrusted image files -> arrays: round trips, odd modes, damaged files, bombs, size limits."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from images import corr, encode, png_claiming, rgba_from_alpha
from PIL import Image

from cnn.errors import CnnError
from cnn.imagefile import MAX_SIDE, MAX_UPLOAD_BYTES, decode_image, load_image
from cnn.preprocess import to_mnist

MNIST = Path(__file__).resolve().parent.parent / "data" / "mnist.npz"


@pytest.fixture(scope="module")
def mnist() -> tuple[np.ndarray, np.ndarray]:
    with np.load(MNIST) as data:
        return data["x_test"][:200].copy(), data["y_test"][:200].copy()


def test_png_round_trip_is_exact_for_l_rgb_and_rgba(mnist):
    digit = mnist[0][0]
    for array in [digit, np.stack([255 - digit] * 3, -1), rgba_from_alpha(digit, (30, 60, 90))]:
        np.testing.assert_array_equal(decode_image(encode(Image.fromarray(array))), array)


def test_jpeg_round_trip_is_close_and_prepares_like_the_original(mnist):
    digit = mnist[0][2]
    photo = np.stack([255 - np.asarray(Image.fromarray(digit).resize((140, 140)))] * 3, -1)
    decoded = decode_image(encode(Image.fromarray(photo), "JPEG", quality=90))
    assert decoded.shape == photo.shape and decoded.dtype == np.uint8
    assert np.abs(decoded.astype(int) - photo).mean() < 4
    assert corr(to_mnist(decoded), to_mnist(photo)) > 0.97


@pytest.mark.parametrize(
    "kind", ["text", "random bytes", "png signature only", "truncated png", "truncated jpeg", "corrupt png body"]
)
def test_unreadable_files_raise_cnn_error(kind, mnist):
    png = encode(Image.fromarray(mnist[0][0]))
    jpeg = encode(Image.fromarray(np.asarray(Image.fromarray(mnist[0][0]).resize((200, 200)))), "JPEG")
    corrupt = bytearray(png)
    corrupt[60:90] = b"\xff" * 30
    data = {
        "text": b"this is not an image, it is a sentence",
        "random bytes": np.random.default_rng(2).bytes(4000),
        "png signature only": b"\x89PNG\r\n\x1a\n" + b"\x00" * 40,
        "truncated png": png[: len(png) // 2],
        "truncated jpeg": jpeg[: len(jpeg) // 2],
        "corrupt png body": bytes(corrupt),
    }[kind]
    with pytest.raises(CnnError, match="not a readable image"):
        decode_image(data)


def test_empty_and_over_size_uploads_raise_cnn_error():
    with pytest.raises(CnnError, match="empty"):
        decode_image(b"")
    with pytest.raises(CnnError, match="too large"):
        decode_image(b"\x89PNG" + b"\x00" * MAX_UPLOAD_BYTES)


def test_decompression_bombs_are_refused_before_decoding():
    with pytest.raises(CnnError, match="decompression bomb"):
        decode_image(png_claiming(20000, 20000, rows=20000))  # ~50 kB claiming 400 Mpixel
    with pytest.raises(CnnError, match="largest accepted"):
        decode_image(png_claiming(MAX_SIDE + 1000, 64))  # over our side limit
    with pytest.raises(CnnError, match="megapixels accepted|largest accepted"):
        decode_image(png_claiming(4000, 4096))  # over 16 Mpixel


def test_animated_gif_uses_the_first_frame(mnist):
    first, second = mnist[0][0], mnist[0][1]
    frames = [Image.fromarray(first).convert("P"), Image.fromarray(second).convert("P")]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert Image.open(io.BytesIO(data)).n_frames == 2
    decoded = decode_image(data)
    grey = decoded if decoded.ndim == 2 else decoded[:, :, 0]
    assert corr(grey, first) > 0.99


def test_16_bit_png_is_scaled_not_clipped(mnist):
    digit = mnist[0][4]
    data = encode(Image.fromarray(digit.astype(np.uint16) * 257))
    assert Image.open(io.BytesIO(data)).mode.startswith("I")
    decoded = decode_image(data)
    assert decoded.dtype == np.uint8
    np.testing.assert_array_equal(decoded, digit)


def test_palette_png_with_transparency_keeps_the_ink(mnist):
    digit = mnist[0][6]
    palette = Image.fromarray(np.where(digit > 127, 0, 255).astype(np.uint8)).convert("P")
    data = encode(palette, transparency=255)  # white is transparent, black ink opaque
    decoded = decode_image(data)
    assert decoded.shape == (28, 28, 4)
    assert corr(decoded[:, :, 3] > 0, digit > 127) > 0.99
    assert corr(to_mnist(decoded), to_mnist(np.where(digit > 127, 255, 0).astype(np.uint8))) > 0.99


def test_cmyk_jpeg_la_and_bilevel_images_decode_to_usable_arrays(mnist):
    digit = np.asarray(Image.fromarray(mnist[0][8]).resize((112, 112)))
    expected = to_mnist(digit)
    cmyk = decode_image(encode(Image.fromarray(255 - digit).convert("CMYK"), "JPEG", quality=95))
    la = decode_image(encode(Image.merge("LA", [Image.new("L", (112, 112), 0), Image.fromarray(digit)])))
    bilevel = decode_image(encode(Image.fromarray(digit > 127)))
    assert cmyk.shape == (112, 112, 3) and la.shape == (112, 112, 4) and bilevel.shape == (112, 112)
    for decoded in (cmyk, la, bilevel):
        assert corr(to_mnist(decoded), expected) > 0.95


def test_phone_photo_exif_orientation_is_applied():
    tall = np.full((60, 30), 255, np.uint8)
    tall[5:15, 5:25] = 0  # a dark mark at the top
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to view"
    decoded = decode_image(encode(Image.fromarray(tall), "JPEG", exif=exif.tobytes(), quality=95))
    assert decoded.shape[:2] == (30, 60)
    assert decoded[:, 45:55].mean() < 100, "the mark should now be on the right"


def test_mangled_files_never_raise_anything_but_cnn_error(mnist):
    rng = np.random.default_rng(3)
    sources = [
        encode(Image.fromarray(mnist[0][0])),
        encode(Image.fromarray(mnist[0][1]), "JPEG"),
        encode(Image.fromarray(mnist[0][2]).convert("P"), "GIF"),
        encode(Image.fromarray(mnist[0][3]), "BMP"),
        encode(Image.fromarray(mnist[0][4]), "TIFF"),
        encode(Image.fromarray(mnist[0][5]), "WEBP"),
    ]
    for source in sources:
        for _ in range(60):
            data = bytearray(source)
            for at in rng.integers(0, len(data), rng.integers(1, 6)):
                data[at] = int(rng.integers(0, 256))
            cut = int(rng.integers(1, len(data) + 1))
            try:
                decoded = decode_image(bytes(data[:cut]))
            except CnnError:
                continue
            assert decoded.dtype == np.uint8 and decoded.ndim in (2, 3)


def test_load_image_reads_files_and_refuses_missing_or_huge_ones(tmp_path, mnist):
    path = tmp_path / "digit.png"
    path.write_bytes(encode(Image.fromarray(mnist[0][0])))
    np.testing.assert_array_equal(load_image(path), mnist[0][0])
    with pytest.raises(CnnError, match="no file"):
        load_image(tmp_path / "missing.png")
    with pytest.raises(CnnError, match="not a file"):
        load_image(tmp_path)
    huge = tmp_path / "huge.png"
    with open(huge, "wb") as fh:  # sparse: large on paper, cheap to make
        fh.truncate(MAX_UPLOAD_BYTES + 1)
    with pytest.raises(CnnError, match="too large"):
        load_image(huge)
