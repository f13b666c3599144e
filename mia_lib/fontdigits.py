"""Digits 0-9 rendered from the TTF fonts bundled with matplotlib and randomly distorted: the glyph renderer behind
the ``fontdigits`` source of :mod:`mia_lib.data` (which seeds it, validates ``n`` and resizes to other sizes)."""

from __future__ import annotations

import functools
import os

import numpy as np
import torch

SIZES = (8, 28, 32)  # sizes with a native rendering recipe; mia_lib.data resizes the others from 28

# Fonts bundled with matplotlib (mpl-data/fonts/ttf) whose code points '0'-'9' are ordinary digits. Left out:
# the symbol fonts (cmex10, cmsy10, STIXSiz*, STIXNonUni*), cmmi10 (old-style figures), the *Display fonts
# (no digits) and LastResortHE (the same box for every character).
FONT_FILES = (
    "DejaVuSans.ttf",
    "DejaVuSans-Bold.ttf",
    "DejaVuSans-Oblique.ttf",
    "DejaVuSans-BoldOblique.ttf",
    "DejaVuSerif.ttf",
    "DejaVuSerif-Bold.ttf",
    "DejaVuSerif-Italic.ttf",
    "DejaVuSerif-BoldItalic.ttf",
    "DejaVuSansMono.ttf",
    "DejaVuSansMono-Bold.ttf",
    "DejaVuSansMono-Oblique.ttf",
    "DejaVuSansMono-BoldOblique.ttf",
    "STIXGeneral.ttf",
    "STIXGeneralBol.ttf",
    "STIXGeneralItalic.ttf",
    "STIXGeneralBolIta.ttf",
    "cmr10.ttf",
    "cmss10.ttf",
    "cmtt10.ttf",
    "cmb10.ttf",
    "cmti10.ttf",
)


def render(n: int, size: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Render ``n`` digit images from matplotlib's bundled fonts, class-balanced (label ``i % 10`` for image i).

    Each glyph gets a random font from :data:`FONT_FILES`, rotation (+-12 degrees), shear (+-0.25), x-scale
    (0.8-1.15), stroke thickening (PIL ``MaxFilter`` of size 1/3/5/7 at a glyph height of about 94 px) and a
    +-1 px shift, all drawn from ``rng`` (in that order, one array per distortion), then is fitted to the output
    resolution:

    * ``size=8``: the UCI optdigits recipe behind ``load_digits``: a 32x32 binary bitmap (glyph scaled to a long
      side of 32 and centred), 4x4 block counts (0..16), divided by 16;
    * ``size=28``: the MNIST recipe: grey-level glyph scaled to fit a 20x20 box, placed by its centre of mass at
      the centre of 28x28;
    * ``size=32``: the 28x28 image zero-padded by 2 px (as MNIST is usually padded for 32x32 models).

    Use :func:`mia_lib.data.render_fontdigits` for a seeded rendering at any size.

    Args:
        n: number of images (>= 1); size: one of :data:`SIZES`; rng: the generator every random choice comes from.
    Returns:
        X float32 [n, 1, size, size] in [0, 1], y int64 [n].
    """
    from PIL import Image, ImageFilter

    if size not in SIZES:
        raise ValueError(
            f"fontdigits renders natively at sizes {SIZES}, got {size}; "
            f"mia_lib.data.render_fontdigits resizes to other sizes."
        )
    fonts = _fonts()
    labels = np.arange(n) % 10
    font_idx = rng.integers(len(fonts), size=n)
    angle = rng.uniform(-12, 12, size=n)
    shear = rng.uniform(-0.25, 0.25, size=n)
    x_scale = rng.uniform(0.8, 1.15, size=n)
    thicken = rng.choice([1, 3, 5, 7], size=n)
    shift = rng.integers(-1, 2, size=(n, 2))

    images = np.empty((n, size, size), dtype=np.float32)
    for i in range(n):
        glyph = _glyph(fonts[font_idx[i]], str(labels[i]))
        glyph = glyph.transform(
            glyph.size,
            Image.Transform.AFFINE,
            _inverse_affine(angle[i], shear[i], x_scale[i], glyph.size),
            resample=Image.Resampling.BILINEAR,
        )
        k = int(thicken[i])
        left, top, right, bottom = glyph.getbbox()
        glyph = glyph.crop((left - k, top - k, right + k, bottom + k))  # filter only the glyph's neighbourhood
        if k > 1:
            glyph = glyph.filter(ImageFilter.MaxFilter(k))
        glyph = glyph.crop(glyph.getbbox())
        dx, dy = shift[i]
        images[i] = _optdigits_8x8(glyph, dx, dy) if size == 8 else _mnist_28x28(glyph, dx, dy, size)
    return torch.from_numpy(images).unsqueeze(1), torch.from_numpy(labels).long()


@functools.lru_cache(maxsize=None)
def _fonts() -> tuple:
    """PIL fonts for :data:`FONT_FILES` (those present in this matplotlib), at a glyph height of about 94 px."""
    import matplotlib
    from PIL import ImageFont

    folder = os.path.join(matplotlib.get_data_path(), "fonts", "ttf")
    fonts = tuple(
        ImageFont.truetype(os.path.join(folder, f), 128) for f in FONT_FILES if os.path.isfile(os.path.join(folder, f))
    )
    if len(fonts) < 4:
        raise ValueError(f"Only {len(fonts)} of the expected digit fonts were found in {folder}.")
    return fonts


def _glyph(font, char: str):
    """The character drawn white on black, centred on a canvas 1.5x the font size (room for rotation and shear)."""
    from PIL import Image, ImageDraw

    canvas = Image.new("L", (3 * font.size // 2, 3 * font.size // 2))
    ImageDraw.Draw(canvas).text((3 * font.size // 4, 3 * font.size // 4), char, fill=255, font=font, anchor="mm")
    return canvas


def _inverse_affine(angle_deg: float, shear: float, x_scale: float, size: tuple[int, int]) -> tuple:
    """PIL's AFFINE coefficients (output -> input pixel map) for rotate . shear . x-scale about the centre."""
    t = np.deg2rad(angle_deg)
    rotate = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    forward = rotate @ np.array([[1, shear], [0, 1]]) @ np.diag([x_scale, 1])
    inv = np.linalg.inv(forward)
    centre = np.array(size) / 2
    offset = centre - inv @ centre
    return (inv[0, 0], inv[0, 1], offset[0], inv[1, 0], inv[1, 1], offset[1])


def _fit(glyph, long_side: int):
    """Resize a cropped glyph so its longer side is ``long_side`` (aspect kept; Pillow's resize is antialiased)."""
    from PIL import Image

    w, h = glyph.size
    scale = long_side / max(w, h)
    return glyph.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.BILINEAR)


def _optdigits_8x8(glyph, dx: int, dy: int) -> np.ndarray:
    """optdigits recipe: 32x32 binary bitmap (centred, shifted by dx, dy), 4x4 block counts / 16 -> [8, 8]."""
    g = np.asarray(_fit(glyph, 32)) >= 128
    bitmap = _place(g.astype(np.float32), 32, (32 - g.shape[0]) // 2 + dy, (32 - g.shape[1]) // 2 + dx)
    return bitmap.reshape(8, 4, 8, 4).sum(axis=(1, 3)) / 16


def _mnist_28x28(glyph, dx: int, dy: int, size: int) -> np.ndarray:
    """MNIST recipe: grey glyph in a 20x20 box, centre of mass at the centre of 28x28 (+ shift); 32 = padded 28."""
    g = np.asarray(_fit(glyph, 20), dtype=np.float32) / 255
    rows, cols = np.indices(g.shape)
    com_r, com_c = (rows * g).sum() / g.sum(), (cols * g).sum() / g.sum()
    top = int(np.clip(round(14 - com_r) + dy, 0, 28 - g.shape[0]))
    left = int(np.clip(round(14 - com_c) + dx, 0, 28 - g.shape[1]))
    image = _place(g, 28, top, left)
    return np.pad(image, (size - 28) // 2) if size == 32 else image


def _place(patch: np.ndarray, size: int, top: int, left: int) -> np.ndarray:
    """Paste ``patch`` into a zero [size, size] canvas at (top, left), clipping what falls outside."""
    canvas = np.zeros((size, size), dtype=np.float32)
    h, w = patch.shape
    r0, c0 = max(top, 0), max(left, 0)
    r1, c1 = min(top + h, size), min(left + w, size)
    canvas[r0:r1, c0:c1] = patch[r0 - top : r1 - top, c0 - left : c1 - left]
    return canvas
