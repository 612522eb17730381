"""Helpers for tests that make images: PNG bytes (honest or lying), RGBA canvases, correlation."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image


def corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel())[0, 1])


def rgba_from_alpha(alpha: np.ndarray, rgb=(0, 0, 0)) -> np.ndarray:
    out = np.zeros(alpha.shape + (4,), np.uint8)
    out[:, :, :3] = rgb
    out[:, :, 3] = alpha
    return out


def encode(img: Image.Image, fmt: str = "PNG", **kwargs) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def png_chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def png_claiming(width: int, height: int, rows: int = 1) -> bytes:
    """A 1-bit greyscale PNG whose header claims width x height, with `rows` rows of
    zero-filled data compressed (a decompression bomb when rows == height)."""
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    packer = zlib.compressobj(9)
    row = b"\x00" * (1 + (width + 7) // 8)
    data = b"".join(packer.compress(row * 1000) for _ in range(rows // 1000))
    data += packer.compress(row * (rows % 1000)) + packer.flush()
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", data) + png_chunk(b"IEND", b"")


def photo_of(alpha: np.ndarray, kind: str, rng: np.random.Generator, darkness: float = 0.6) -> np.ndarray:
    """A greyscale uint8 "photo" of a drawing (alpha in [0, 1], ink = 1) on paper lit as `kind`
    says: "gradient" (100 grey levels across the page), "shadow" (a soft shadow over a third
    of it, 30% darker), "ruled" (faint tilted ruled lines and a margin), or "all" of them;
    sensor noise of 3 grey levels."""
    h, w = alpha.shape
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    light = np.full((h, w), 245.0)
    if kind in ("gradient", "all"):
        light = 250.0 - 100.0 * xx  # 250 on the left, 150 on the right
    if kind in ("shadow", "all"):
        light = light * (1 - 0.3 * np.clip((yy + 0.3 * xx - 0.55) / 0.08 + 0.5, 0, 1))
    page = np.ones((h, w))
    if kind in ("ruled", "all"):
        rows = yy * h + np.tan(np.radians(3)) * xx * w
        dist = np.abs((rows % 36) - 18)
        page -= 0.12 * np.clip(18 - dist - 16.8, 0, 1)  # ~1.2 px lines every 36 px
        page -= 0.1 * np.clip(1.2 - np.abs(np.arange(w)[None, :] - 0.12 * w), 0, 1)  # a margin
    picture = light * page * (1 - darkness * alpha) + rng.normal(0, 3, (h, w))
    return np.clip(np.round(picture), 0, 255).astype(np.uint8)
