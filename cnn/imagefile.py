"""Untrusted image files -> pixel arrays, safely.

Uploads and files named on the command line may be anything: huge, truncated, a
decompression bomb, a 16-bit scan, a palette GIF, a phone photo lying on its side.
``decode_image`` / ``load_image`` return a uint8 array (grey, RGB or RGBA) or raise
``CnnError`` saying what to upload instead; no other exception escapes.
"""

from __future__ import annotations

import io
import os
import warnings

import numpy as np
from PIL import Image, ImageOps

from cnn.errors import CnnError

MAX_SIDE = 4096  # larger images are refused
MAX_PIXELS = 16_000_000  # ... and so are images with more pixels than this
MAX_UPLOAD_BYTES = 5 * 1024 * 1024  # larger files are refused before decoding
# Pillow's own decompression-bomb guard, tightened from its 89 Mpixel default to ours:
# a belt to the braces of checking the header's size before decoding.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):g} MB"


def _to_array(img: Image.Image) -> np.ndarray:
    """A decoded PIL image of any mode -> uint8 array, L (H, W), RGB or RGBA (H, W, 3/4)."""
    mode = img.mode
    if mode in ("L", "RGB", "RGBA"):
        return np.array(img, dtype=np.uint8)
    if mode == "1":
        return np.array(img.convert("L"), dtype=np.uint8)
    if mode in ("LA", "La", "PA", "RGBa"):
        return np.array(img.convert("RGBA"), dtype=np.uint8)
    if mode == "P":
        has_alpha = "transparency" in img.info or img.palette is not None and img.palette.mode == "RGBA"
        return np.array(img.convert("RGBA" if has_alpha else "RGB"), dtype=np.uint8)
    if mode.startswith("I") or mode == "F":
        a = np.asarray(img).astype(np.float64)
        if a.ndim != 2:
            raise ValueError(f"unexpected shape {a.shape} for mode {mode}")
        lo, hi = float(np.nanmin(a)), float(np.nanmax(a))
        if mode == "F" and lo >= 0.0 and hi <= 1.0:
            scaled = a * 255.0
        elif mode == "F" and lo >= 0.0 and hi <= 255.0:
            scaled = a
        elif mode.startswith("I;16") or (lo >= 0.0 and hi <= 65535.0):
            scaled = a / 257.0  # 16-bit range -> 8-bit range, scaled (not clipped)
        elif hi > lo:
            scaled = (a - lo) * (255.0 / (hi - lo))
        else:
            scaled = np.zeros_like(a)
        return np.clip(np.nan_to_num(scaled) + 0.5, 0, 255).astype(np.uint8)
    # CMYK, YCbCr, LAB, HSV, RGBX, ...: PIL knows how to get RGB.
    return np.array(img.convert("RGB"), dtype=np.uint8)


def decode_image(data: bytes) -> np.ndarray:
    """Bytes of an uploaded image file -> uint8 array: (H, W) grey, (H, W, 3) RGB or
    (H, W, 4) RGBA. Only the first frame of animations and multi-page files is used; phone
    photos are turned upright by their EXIF orientation.

    Raises CnnError for anything that is not a readable, reasonably sized image."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise CnnError(f"Expected the bytes of an image file, got {type(data).__name__}. Upload a PNG or JPEG file.")
    n = len(data)
    if n == 0:
        raise CnnError("The uploaded file is empty. Upload a PNG or JPEG image of a digit.")
    if n > MAX_UPLOAD_BYTES:
        raise CnnError(
            f"The file is too large ({n:,} bytes; the limit is {_mb(MAX_UPLOAD_BYTES)}). "
            "Upload a smaller image (crop or shrink it around the digit)."
        )
    unreadable = (
        "The file is not a readable image (it may be corrupt, truncated or of an "
        "unsupported type). Upload a PNG or JPEG picture of a digit."
    )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # PIL's chatter about damaged metadata
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(bytes(data))) as img:
                w, h = img.size
                if w <= 0 or h <= 0:
                    raise CnnError(unreadable)
                if w > MAX_SIDE or h > MAX_SIDE or w * h > MAX_PIXELS:
                    raise CnnError(
                        f"The image is {w}x{h} pixels; the largest accepted is {MAX_SIDE} pixels "
                        f"a side and {MAX_PIXELS // 1_000_000} megapixels. "
                        "Shrink or crop it around the digit and upload it again."
                    )
                img.seek(0)  # first frame of an animation / first page
                img.load()
                try:
                    upright = ImageOps.exif_transpose(img)
                except Exception:  # a damaged EXIF block: keep the picture as it is
                    upright = img
                if upright is None:
                    upright = img
                array = _to_array(upright)
    except CnnError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise CnnError(
            f"The image has more than the {MAX_PIXELS // 1_000_000} megapixels accepted (or claims "
            "to: a decompression bomb), so it was not opened. Shrink or crop it around "
            "the digit and upload it again."
        ) from e
    except MemoryError as e:
        raise CnnError("The image is too large to open. Upload a smaller picture of a digit.") from e
    except Exception as e:  # PIL raises many types for bad files: never let them escape
        raise CnnError(unreadable) from e
    if array.ndim not in (2, 3) or array.size == 0:
        raise CnnError(unreadable)
    return array


def load_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file -> uint8 array as `decode_image` returns it. Over-size files are
    refused before they are read in full. Raises CnnError for a missing or unreadable file."""
    p = os.fspath(path)
    try:
        st = os.stat(p)
    except FileNotFoundError as e:
        raise CnnError(f"There is no file at {p!r}. Check the path and try again.") from e
    except OSError as e:
        raise CnnError(f"Could not open {p!r} ({e.strerror or e}). Check the path and its permissions.") from e
    if not os.path.isfile(p):
        raise CnnError(f"{p!r} is not a file. Give the path of a PNG or JPEG image.")
    if st.st_size > MAX_UPLOAD_BYTES:
        raise CnnError(
            f"{p!r} is too large ({st.st_size:,} bytes; the limit is {_mb(MAX_UPLOAD_BYTES)}). "
            "Use a smaller image (crop or shrink it around the digit)."
        )
    try:
        with open(p, "rb") as fh:
            data = fh.read(MAX_UPLOAD_BYTES + 1)
    except OSError as e:
        raise CnnError(f"Could not read {p!r} ({e.strerror or e}). Check the file and its permissions.") from e
    return decode_image(data)
