"""Figure settings from the config's ``figures`` section: size, font, formats, clipping.

``figures.defaults`` applies to every figure; ``figures.analyses.<id>`` overrides any key for
one figure (an analysis id, or ``prisma``, ``rob_traffic_light``, ``rob_summary``). Keys:

``width``
    ``single`` (89 mm), ``onehalf`` (120 mm), ``double`` (183 mm) or a width in mm.
``height``
    ``auto`` (the figure's own height, which follows its content) or a height in mm.
``font_size``
    ``auto`` (7 pt; 6 pt in single-column forest plots) or points.
``formats``
    Any of ``pdf``, ``svg``, ``png`` (SVG is always written: the report embeds it).
``dpi``
    Resolution of PNG files.
``clip``
    ``auto`` (the estimates' spread on either side; :func:`ketameta.outputs.figures.style.
    clip_range`), ``none`` (every interval whole) or ``[low, high]`` on the drawn scale (odds
    ratios, not log odds ratios): intervals beyond end in an arrow.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["DEFAULTS", "figure_options", "figure_kwargs", "figure_formats"]

#: The settings of a figure the config does not mention.
DEFAULTS: dict[str, Any] = {"width": "double", "height": "auto", "font_size": "auto",
                            "formats": ["pdf", "svg", "png"], "dpi": 300, "clip": "auto"}


def figure_options(config: Mapping[str, Any] | None, figure: str) -> dict[str, Any]:
    """The settings of one figure: :data:`DEFAULTS`, then ``figures.defaults``, then
    ``figures.analyses.<figure>``.
    """
    fig_cfg = dict((config or {}).get("figures") or {})
    out = dict(DEFAULTS)
    out.update(fig_cfg.get("defaults") or {})
    out.update((fig_cfg.get("analyses") or {}).get(figure) or {})
    return out


def figure_formats(opts: Mapping[str, Any]) -> list[str]:
    """The formats to write (configured order, SVG added when missing: the report embeds it)."""
    fmts = list(dict.fromkeys(opts.get("formats") or DEFAULTS["formats"]))
    return fmts if "svg" in fmts else fmts + ["svg"]


def figure_kwargs(opts: Mapping[str, Any] | None, *, clip: bool = True, height: bool = True,
                  fontsize: bool = True) -> dict[str, Any]:
    """Keyword arguments of a figure function (``width``, ``height`` in inches, ``fontsize``,
    ``clip``) from the settings; keys the function does not take are switched off.
    """
    from ..outputs.figures.style import parse_size

    o = dict(DEFAULTS)
    o.update(opts or {})
    kw: dict[str, Any] = {"width": parse_size(o["width"], "width") or "double"}
    if height:
        kw["height"] = parse_size(o["height"], "height")
    if fontsize and o["font_size"] not in (None, "auto"):
        kw["fontsize"] = float(o["font_size"])
    if clip:
        kw["clip"] = o["clip"] if isinstance(o["clip"], str) or o["clip"] is None else tuple(o["clip"])
    return kw
