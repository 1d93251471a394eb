r"""In-text values for manuscripts: LaTeX macros plus the same values as JSON.

:func:`write_values` turns ``{"PooledRAcute": (0.3512, 2), ...}`` into

* ``values.tex`` -- one ``\newcommand{\PooledRAcute}{0.35}`` per value, so a manuscript writes
  ``r = \PooledRAcute`` and never retypes a number;
* ``values.json`` -- ``{"PooledRAcute": {"value": 0.3512, "text": "0.35"}, ...}`` with the raw
  number (full precision) and the same formatted text, for other tools and for tests.

LaTeX command names may contain letters only; :func:`macro_name` converts snake_case names
("pooled_r_acute" -> "PooledRAcute", "i2_day7" -> "ITwoDaySeven").
"""

from __future__ import annotations

import json
import math
import numbers
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ..io import atomic_write
from .format import escape_latex, fmt_num, fmt_p, is_missing

__all__ = ["macro_name", "format_value", "write_values", "read_values", "MISSING_TEXT", "RESERVED"]

#: Text written for a value that is missing (None/NaN): visible in the manuscript, never a number.
MISSING_TEXT = "NA"

_DIGITS = ["Zero", "One", "Two", "Three", "Four", "Five", "Six", "Seven", "Eight", "Nine"]
_NAME_RE = re.compile(r"^[A-Za-z]+$")


def macro_name(name: str, prefix: str = "") -> str:
    """Convert a snake_case (or dotted/dashed) name into a valid LaTeX command name.

    Words are split at ``_``, ``-``, ``.``, spaces and letter/digit boundaries, capitalised and
    joined; digits are spelled out digit by digit (LaTeX command names are letters only).

    Parameters
    ----------
    name : str
        E.g. ``"pooled_r_acute"``.
    prefix : str, optional
        Letters prepended to every name (e.g. ``"km"``) to avoid clashes with existing macros.

    Returns
    -------
    str
        E.g. ``"PooledRAcute"``.

    Raises
    ------
    ValueError
        If ``name`` contains characters other than ASCII letters, digits and separators, or
        nothing is left.

    Examples
    --------
    >>> macro_name("pooled_r_acute"), macro_name("i2_day7"), macro_name("k", prefix="km")
    ('PooledRAcute', 'ITwoDaySeven', 'kmK')
    """
    if not re.fullmatch(r"[A-Za-z0-9_.\- ]+", name or ""):
        raise ValueError(
            f"cannot make a LaTeX command name from {name!r}: use ASCII letters, digits and _ . -"
        )
    parts = re.findall(r"[A-Za-z]+|\d", name)
    words = [_DIGITS[int(p)] if p.isdigit() else p[0].upper() + p[1:] for p in parts]
    out = prefix + "".join(words)
    _check_name(out)
    return out


#: Capitalised names that already exist in LaTeX2e/amsmath (``\newcommand`` would fail on them).
RESERVED = frozenset(
    "AA AE DH DJ H L LARGE Large Huge NG O OE P Pr Re Im S SS TH Box Diamond Join Leftarrow "
    "Rightarrow Leftrightarrow Longleftarrow Longrightarrow Uparrow Downarrow Updownarrow "
    "Delta Gamma Lambda Omega Phi Pi Psi Sigma Theta Upsilon Xi LaTeX TeX LaTeXe Vert".split()
)


def _check_name(name: str) -> None:
    if isinstance(name, str) and name in RESERVED:
        raise ValueError(
            f"LaTeX command name {name!r} already exists in LaTeX; choose another name "
            "(or pass prefix= to macro_name)"
        )
    if isinstance(name, str) and _NAME_RE.match(name):
        return
    hint = ""
    if isinstance(name, str):
        try:
            hint = f"; macro_name({name!r}) gives {macro_name(name)!r}"
        except ValueError:
            pass
    raise ValueError(
        f"invalid LaTeX command name {name!r}: use ASCII letters only (no digits, "
        f"underscores, spaces or accents){hint}"
    )


ValueSpec = str | int | tuple[Any, Any]


def format_value(value: Any, fmt: int | str | Callable[[Any], str] | None = None) -> str:
    """Format one value as text (before LaTeX escaping).

    Parameters
    ----------
    value : number, str or None
        None/NaN give :data:`MISSING_TEXT`.
    fmt : int, str, callable or None
        ``int`` -- decimals; ``"p"``/``"p4"`` -- p-value (``< 0.001``); ``"int"`` -- rounded
        integer; ``"%"``/``"%1"`` -- percent with decimals; any other string -- a Python format
        spec (``".3g"``, ``","``) or a ``str.format`` template (``"{:.1f} days"``); a callable
        -- ``fmt(value)``. ``None`` is allowed for strings and integers only: a float needs an
        explicit precision.

    Returns
    -------
    str
    """
    if is_missing(value):
        return MISSING_TEXT
    if callable(fmt):
        return str(fmt(value))
    if fmt is None:
        if isinstance(value, str):
            return value
        if isinstance(value, numbers.Integral) and not isinstance(value, bool):
            return str(int(value))
        raise TypeError(f"value {value!r} needs a format (e.g. 2 for two decimals)")
    if isinstance(fmt, bool):
        raise TypeError("a format cannot be a bool")
    if isinstance(fmt, int):
        return fmt_num(value, fmt)
    if isinstance(fmt, str):
        if fmt in ("int", "d"):
            return str(int(round(float(value))))
        m = re.fullmatch(r"p(\d?)", fmt)
        if m:
            return fmt_p(value, int(m.group(1) or 3))
        m = re.fullmatch(r"%(\d?)", fmt)
        if m:
            return fmt_num(float(value), int(m.group(1) or 1)) + "%"
        if "{" in fmt:
            return fmt.format(value)
        return format(value, fmt)
    raise TypeError(f"unsupported format {fmt!r}")


def _latex_text(text: str) -> str:
    r"""Escape for LaTeX; a number's leading ``<``/``>`` and minus sign become maths symbols.

    ``\ensuremath`` keeps the macro usable in text and inside ``$...$``.
    """
    m = re.match(r"^(?:([<>])\s*)?(-)?(?=\d|\.\d)", text)
    if m and (m.group(1) or m.group(2)):
        lead = ""
        if m.group(1):
            lead += r"\ensuremath{" + m.group(1) + "}" + (" " if text[1:2] == " " else "")
        if m.group(2):
            lead += r"\ensuremath{-}"
        return lead + escape_latex(text[m.end() :])
    return escape_latex(text)


def _json_value(value: Any) -> Any:
    if is_missing(value):
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        v = float(value)
        return v if math.isfinite(v) else str(v)
    return str(value)


def write_values(
    values: Mapping[str, ValueSpec],
    tex_path: str | os.PathLike[str] | None,
    json_path: str | os.PathLike[str] | None = None,
    *,
    header: str | None = None,
) -> dict[str, dict[str, Any]]:
    r"""Write in-text values as LaTeX macros and as JSON (atomically).

    Parameters
    ----------
    values : mapping
        Macro name -> value. A value is either a string (text, escaped for LaTeX), an integer,
        or a tuple ``(value, fmt)`` formatted by :func:`format_value`. Names must be valid
        LaTeX command names (letters only); see :func:`macro_name`.
    tex_path : path or None
        The ``.tex`` file: a ``%`` comment header, then one ``\newcommand`` per line, sorted by
        name (stable diffs when a study is added).
    json_path : path, optional
        The ``.json`` file: ``{name: {"value": raw, "text": formatted}}``, sorted by name.
        ``value`` is the raw number (``null`` if missing); ``text`` is the unescaped formatted
        text that the macro prints.
    header : str, optional
        Extra comment line(s) for the top of the ``.tex`` file (e.g. the analysis name).

    Returns
    -------
    dict
        What was written to the JSON file.

    Raises
    ------
    ValueError
        For an invalid name (the message suggests the :func:`macro_name` spelling).
    TypeError
        For a float given without a format.

    Notes
    -----
    Numbers are typeset with ``\ensuremath{-}`` for a leading minus sign so they read well in
    text and math; ``\newcommand`` (not ``\renewcommand``) makes LaTeX stop with an error if a
    name clashes with an existing command, rather than silently redefining it. A missing value
    (None/NaN) prints as ``NA``.

    Examples
    --------
    >>> write_values({"PooledRAcute": (0.3512, 2), "KAcute": 5}, "values.tex")  # doctest: +SKIP
    """
    table: dict[str, dict[str, Any]] = {}
    for name in values:
        _check_name(name)
    for name in sorted(values):
        spec = values[name]
        if isinstance(spec, tuple):
            if len(spec) != 2:
                raise ValueError(f"value {name!r} must be (value, fmt), got a {len(spec)}-tuple")
            raw, fmt = spec
        else:
            raw, fmt = spec, None
        text = format_value(raw, fmt)
        table[name] = {"value": _json_value(raw), "text": text}
    if tex_path is not None:
        lines = ["% Generated by ketameta; do not edit (rerun the workflow instead)."]
        if header:
            lines += [f"% {h}" for h in str(header).splitlines()]
        for name, v in table.items():
            lines.append(f"\\newcommand{{\\{name}}}{{{_latex_text(v['text'])}}}")
        with atomic_write(tex_path) as fh:
            fh.write("\n".join(lines) + "\n")
    if json_path is not None:
        with atomic_write(json_path) as fh:
            json.dump(table, fh, indent=2, ensure_ascii=False, sort_keys=True, allow_nan=False)
            fh.write("\n")
    return table


def read_values(json_path: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """Read a values JSON file written by :func:`write_values`."""
    with open(Path(json_path), encoding="utf-8") as fh:
        return json.load(fh)
