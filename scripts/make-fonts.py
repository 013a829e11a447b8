"""Rebuild the invoice fonts in billing/assets/fonts/ from the DejaVu fonts of the system.

The PDF embeds its own font so that accents render the same on every machine. The
committed files are subsets of DejaVu Sans (Latin-1, Latin Extended-A and the few
symbols the invoice prints), about 30 KB each instead of 700 KB, which also makes
the PDF renderer load them faster. Run once when the glyph set needs to change:

    python scripts/make-fonts.py /usr/share/fonts/truetype/dejavu
"""
from __future__ import annotations

import sys
from pathlib import Path

from fontTools import subset

OUT = Path(__file__).resolve().parent.parent / "billing" / "assets" / "fonts"
FONTS = ("DejaVuSans", "DejaVuSans-Bold")
UNICODES = (
    list(range(0x20, 0x7F)) + list(range(0xA0, 0x180))
    + [0x2013, 0x2014, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2026, 0x20AC, 0x2192, 0x2713, 0x27A4]
)


def main(source_dir: str) -> None:
    options = subset.Options()
    options.name_IDs = ["*"]
    options.notdef_outline = True
    options.layout_features = []
    options.hinting = False
    options.drop_tables += ["FFTM"]
    for name in FONTS:
        font = subset.load_font(str(Path(source_dir) / f"{name}.ttf"), options)
        subsetter = subset.Subsetter(options)
        subsetter.populate(unicodes=UNICODES)
        subsetter.subset(font)
        subset.save_font(font, str(OUT / f"{name}.ttf"), options)
        print(f"{name}.ttf: {(OUT / f'{name}.ttf').stat().st_size} bytes")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/usr/share/fonts/truetype/dejavu")
