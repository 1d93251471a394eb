"""Publication figures: forest, bubble, durability, funnel, effect direction, PRISMA 2020.

Every function takes plain data (DataFrames, arrays, dicts -- never model objects) and returns a
:class:`matplotlib.figure.Figure` of a journal width; :func:`savefig_all` writes it as PDF, SVG
and PNG with byte-identical output for identical input. The shared style (sizes, fonts,
palette, determinism) is in :mod:`.style`; each figure kind has its own module.
"""

from .bubble import bubble
from .direction import effect_direction
from .durability import durability
from .forest import forest
from .funnel import funnel
from .prisma import PRISMA_KEYS, prisma
from .style import PALETTE, STYLE, WIDTHS, figure_width, savefig_all

__all__ = [
    "WIDTHS", "STYLE", "PALETTE", "figure_width", "savefig_all", "forest", "bubble", "durability",
    "funnel", "effect_direction", "prisma", "PRISMA_KEYS",
]
