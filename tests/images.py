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
