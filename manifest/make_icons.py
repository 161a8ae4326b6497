"""Draw the Teams app icons (`color.png` 192x192, `outline.png` 32x32) with the standard library.

Why a script: the icons stay reproducible and reviewable as code, with no image editor or
imaging package in the build. Teams wants a full-colour 192x192 icon and a 32x32 outline icon
that is white on transparent (nothing but white pixels, varying only in alpha).

The motif: a flame above a ground line that is broken in the middle, a firebreak.

Run from the repository root: `python manifest/make_icons.py` (rewrites both PNGs).
"""
from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import Callable

HERE = Path(__file__).resolve().parent
SUPERSAMPLE = 4  # 4x4 samples per pixel, for smooth (anti-aliased) edges

BACKGROUND = (0x1F, 0x2A, 0x44)  # deep navy; also the manifest's accentColor
FLAME = (0xF2, 0x5C, 0x05)
CORE = (0xFF, 0xC8, 0x3D)
GROUND = (0xE8, 0xEC, 0xF2)
WHITE = (0xFF, 0xFF, 0xFF)

Shape = Callable[[float, float], bool]  # (x, y) in the unit square, y downwards


def flame(cx: float, base_y: float, radius: float, tip_y: float, lean: float) -> Shape:
    """A teardrop: a round base and a tip that leans sideways like a flickering flame."""

    def inside(x: float, y: float) -> bool:
        if (x - cx) ** 2 + (y - base_y) ** 2 <= radius**2:
            return True
        if not tip_y <= y <= base_y:
            return False
        t = (base_y - y) / (base_y - tip_y)  # 0 at the base centre, 1 at the tip
        centre = cx + lean * t * t
        return abs(x - centre) <= radius * (1 - t) ** 0.75

    return inside


def rect(x0: float, y0: float, x1: float, y1: float) -> Shape:
    return lambda x, y: x0 <= x <= x1 and y0 <= y <= y1


OUTER = flame(0.5, 0.60, 0.22, 0.08, 0.07)
INNER = flame(0.5, 0.66, 0.11, 0.36, 0.03)
# The ground line, with a gap under the flame's centre: the firebreak.
GROUND_LEFT = rect(0.14, 0.87, 0.44, 0.93)
GROUND_RIGHT = rect(0.56, 0.87, 0.86, 0.93)


def coverage(shape: Shape, px: int, py: int, size: int) -> float:
    """The share of pixel (px, py) that `shape` covers."""
    hits = 0
    for sy in range(SUPERSAMPLE):
        for sx in range(SUPERSAMPLE):
            x = (px + (sx + 0.5) / SUPERSAMPLE) / size
            y = (py + (sy + 0.5) / SUPERSAMPLE) / size
            hits += shape(x, y)
    return hits / SUPERSAMPLE**2


def mix(under: tuple[float, ...], over: tuple[int, ...], amount: float) -> tuple[float, ...]:
    return tuple(u + (o - u) * amount for u, o in zip(under, over))


def draw_color(size: int = 192) -> list[list[tuple[int, int, int, int]]]:
    """Full-bleed navy square (Teams rounds the corners), orange flame, yellow core."""
    layers = [(OUTER, FLAME), (INNER, CORE), (GROUND_LEFT, GROUND), (GROUND_RIGHT, GROUND)]
    rows = []
    for py in range(size):
        row = []
        for px in range(size):
            pixel: tuple[float, ...] = BACKGROUND
            for shape, colour in layers:
                pixel = mix(pixel, colour, coverage(shape, px, py, size))
            row.append(tuple(round(c) for c in pixel) + (255,))
        rows.append(row)
    return rows


def draw_outline(size: int = 32) -> list[list[tuple[int, int, int, int]]]:
    """White on transparent: the flame with its core cut out, and the broken ground line."""
    rows = []
    for py in range(size):
        row = []
        for px in range(size):
            flame_alpha = coverage(OUTER, px, py, size) - coverage(INNER, px, py, size)
            ground_alpha = sum(coverage(s, px, py, size) for s in (GROUND_LEFT, GROUND_RIGHT))
            alpha = min(1.0, max(0.0, flame_alpha) + ground_alpha)
            row.append(WHITE + (round(alpha * 255),))
        rows.append(row)
    return rows


def encode_png(rows: list[list[tuple[int, int, int, int]]]) -> bytes:
    """An 8-bit RGBA PNG (colour type 6), every scanline with filter 0."""
    height, width = len(rows), len(rows[0])

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + body))
        return struct.pack(">I", len(body)) + kind + body + crc

    raw = b"".join(b"\x00" + bytes(c for pixel in row for c in pixel) for row in rows)
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def main() -> None:
    (HERE / "color.png").write_bytes(encode_png(draw_color()))
    (HERE / "outline.png").write_bytes(encode_png(draw_outline()))
    print(f"wrote {HERE / 'color.png'} and {HERE / 'outline.png'}")


if __name__ == "__main__":
    main()
