"""The fontdigits glyph renderer (mia_lib.fontdigits); its seeded, any-size entry point is tested in test_data."""

import numpy as np
import pytest

from mia_lib import fontdigits


def test_every_font_renders_ten_distinct_digits():
    for font in fontdigits._fonts():
        glyphs = [np.asarray(fontdigits._glyph(font, str(d))) for d in range(10)]
        assert all(g.max() == 255 for g in glyphs), font.getname()
        assert len({g.tobytes() for g in glyphs}) == 10, font.getname()


def test_render_only_at_native_sizes():
    X, y = fontdigits.render(3, 28, np.random.default_rng(0))
    assert X.shape == (3, 1, 28, 28) and y.tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match="natively"):
        fontdigits.render(3, 16, np.random.default_rng(0))
