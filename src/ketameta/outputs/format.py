"""Formatting shared by every output: escaping for LaTeX, HTML and Markdown, and numbers.

The escaping functions :func:`escape_latex`, :func:`escape_html` and :func:`escape_markdown` and
the number formatters :func:`fmt_num`, :func:`fmt_p` and :func:`fmt_ci` are the one place where
text from data is made safe for a target format and numbers get their printed form; tables,
citations, values, figures and the report all use them.
"""
from __future__ import annotations

import codecs
import html
import math
import numbers
import re
from collections.abc import Callable
from typing import Any

import latexcodec  # noqa: F401  (registers the "ulatex" codec; a dependency of pybtex)
import numpy as np
import pandas as pd

__all__ = [
    "escape_html",
    "escape_latex",
    "escape_markdown",
    "latex_char",
    "fmt_ci",
    "fmt_num",
    "fmt_p",
    "is_missing",
    "Format",
    "column_formatter",
    "LATEX_PREAMBLE",
    "NA_REP",
]

NA_REP = "\u2013"  # en dash: "no value" in human-readable tables

#: Packages a document needs to ``\input`` the LaTeX written by ketameta.
LATEX_PREAMBLE = (
    "\\usepackage[T1]{fontenc}\n"
    "\\usepackage{lmodern}\n"
    "\\usepackage{booktabs}\n"
    "\\usepackage{array}\n"
    "\\usepackage{tabularx}\n"
    "\\usepackage{rotating}\n"
    "\\usepackage{url}\n"
    "\\usepackage[hidelinks]{hyperref}\n"
)

# --------------------------------------------------------------------------------------------
# Escaping
# --------------------------------------------------------------------------------------------

_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "|": r"\textbar{}",
}
#: characters latexcodec has no name for, with their plain-LaTeX form (GRADE's certainty symbols)
_LATEX_EXTRA = {
    "\u2295": r"\ensuremath{\oplus}",  # circled plus (GRADE: a level of certainty)
    "\u229d": r"\ensuremath{\ominus}",  # circled dash (GRADE: a level not reached)
    "\u25ef": r"\ensuremath{\bigcirc}",  # large circle (GRADE's other rendering of a level not reached)
}
_LATEX_CMD_END = re.compile(r"\\[A-Za-z]+$")


def latex_char(ch: str) -> str:
    """LaTeX for one non-ASCII character (via latexcodec), braced so it never swallows text."""
    try:
        out = codecs.encode(ch, "ulatex")
    except UnicodeEncodeError:
        return ch  # no LaTeX name known: keep the UTF-8 character (fine with LuaLaTeX/XeLaTeX)
    if isinstance(out, bytes):  # pragma: no cover - latexcodec returns str for "ulatex"
        out = out.decode("ascii")
    if len(out) > 2 and out.startswith("$") and out.endswith("$"):
        # "$\geq$" -> "\ensuremath{\geq}": correct in text and in math mode
        return "\\ensuremath{" + out[1:-1] + "}"
    if out.startswith("\\") and not out.startswith("\\\\"):
        # "\'e", "\AA", "\textasciitilde": group it so a following letter cannot extend it
        return "{" + out + "}"
    return out


def escape_latex(text: Any) -> str:
    r"""Escape text for LaTeX (text mode), producing pure ASCII where a LaTeX name is known.

    The ten special characters ``& % $ # _ { } ~ ^ \`` are escaped, and so are ``< > |`` (which
    print as other glyphs in the default OT1 encoding). Non-ASCII characters are converted with
    ``latexcodec`` (``é`` → ``{\'e}``, ``–`` → ``--``, ``≥`` → ``\ensuremath{\geq}``);
    characters without a LaTeX name are kept as UTF-8. Line breaks become spaces.

    Parameters
    ----------
    text : object
        Converted with ``str`` first.

    Returns
    -------
    str
    """
    s = str(text).replace("\r\n", " ").replace("\n", " ").replace("\r", " ")
    out = []
    for ch in s:
        if ch in _LATEX_SPECIAL:
            out.append(_LATEX_SPECIAL[ch])
        elif ord(ch) < 128:
            out.append(ch)
        elif ch == "\u00a0":
            out.append("~")
        elif ch in _LATEX_EXTRA:
            out.append(_LATEX_EXTRA[ch])
        else:
            out.append(latex_char(ch))
    return "".join(out)


def escape_html(text: Any) -> str:
    """Escape text for HTML element content and attribute values (``< > & " '``).

    Parameters
    ----------
    text : object
        Converted with ``str`` first.

    Returns
    -------
    str
    """
    return html.escape(str(text), quote=True)


_MD_ALWAYS = set("\\`*_<>|$~")
_MD_ENTITY = re.compile(r"&(#[0-9]+|#[xX][0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]*);")
_MD_LINK = re.compile(r"\]\s*[(\[:]|\[\^")
_MD_LEADING = re.compile(r"^(\s*)([#+=-])")
_MD_ORDERED = re.compile(r"^(\s*\d+)([.)])")


def escape_markdown(text: Any, *, block: bool = False) -> str:
    r"""Escape text for (GitHub-flavoured) Markdown so it renders literally.

    Backslash-escapes ``\ ` * _ < > | $ ~`` everywhere (``|`` would split a table cell, ``<``
    would start raw HTML, ``$`` math), ``&`` when it would start an HTML entity, and ``[`` / ``]``
    when the text contains link syntax. Line breaks become spaces (a table row is one line).

    Parameters
    ----------
    text : object
        Converted with ``str`` first.
    block : bool, default False
        The text starts a block (a paragraph or list item) rather than sitting inside a table
        cell: then a leading ``#``, ``-``, ``+``, ``=`` or ``1.`` is escaped too, so it cannot
        turn into a heading or a list.

    Returns
    -------
    str
    """
    s = str(text).replace("\r\n", " ").replace("\n", " ").replace("\r", " ")
    brackets = bool(_MD_LINK.search(s))
    out = []
    for i, ch in enumerate(s):
        if ch in _MD_ALWAYS or (brackets and ch in "[]"):
            out.append("\\" + ch)
        elif ch == "&" and _MD_ENTITY.match(s, i):
            out.append("\\&")
        else:
            out.append(ch)
    res = "".join(out)
    if block:
        res = _MD_LEADING.sub(lambda m: m.group(1) + "\\" + m.group(2), res)
        res = _MD_ORDERED.sub(lambda m: m.group(1) + "\\" + m.group(2), res)
    return res


# --------------------------------------------------------------------------------------------
# Number formatting
# --------------------------------------------------------------------------------------------


def is_missing(x: Any) -> bool:
    """Whether ``x`` is a missing value (None, NA, NaT or NaN)."""
    if x is None or x is pd.NA or x is pd.NaT:
        return True
    try:
        return bool(isinstance(x, numbers.Number) and math.isnan(float(x)))
    except (TypeError, ValueError):
        return False


def fmt_num(x: Any, digits: int = 2, na: str = NA_REP) -> str:
    """Format a number with a fixed number of decimals (``-0.00`` is printed as ``0.00``).

    Parameters
    ----------
    x : float
        The number; ``None``/NaN give ``na``.
    digits : int, default 2
        Decimals.
    na : str, default "–"
        Text for a missing value.

    Returns
    -------
    str

    Examples
    --------
    >>> fmt_num(0.3456), fmt_num(-0.0001, 2), fmt_num(float("nan"))
    ('0.35', '0.00', '–')
    """
    if is_missing(x):
        return na
    x = float(x)
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    s = f"{x:.{int(digits)}f}"
    if s.startswith("-") and float(s) == 0.0:
        s = s[1:]
    return s


def fmt_p(p: Any, digits: int = 3, na: str = NA_REP) -> str:
    """Format a p-value: ``< 0.001`` below the printed precision, otherwise fixed decimals.

    Parameters
    ----------
    p : float
        The p-value, in [0, 1].
    digits : int, default 3
        Decimals; values below ``10**-digits`` print as ``< 0.001`` (for ``digits=3``).
    na : str, default "–"
        Text for a missing value.

    Returns
    -------
    str

    Raises
    ------
    ValueError
        If ``p`` is outside [0, 1].

    Examples
    --------
    >>> fmt_p(0.00002), fmt_p(0.0123), fmt_p(1.0)
    ('< 0.001', '0.012', '1.000')
    """
    if is_missing(p):
        return na
    p = float(p)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"a p-value must lie in [0, 1], got {p!r}")
    threshold = 10.0 ** (-int(digits))
    if p < threshold:
        return f"< {threshold:.{int(digits)}f}"
    return f"{p:.{int(digits)}f}"


def fmt_ci(est: Any, lb: Any, ub: Any, digits: int = 2, na: str = NA_REP) -> str:
    """Format an estimate with its interval: ``0.35 [0.17, 0.51]``.

    Parameters
    ----------
    est, lb, ub : float
        Estimate and interval bounds; a missing bound prints ``na`` in its place, a missing
        estimate gives ``na`` alone.
    digits : int, default 2
        Decimals for all three numbers.
    na : str, default "–"
        Text for a missing value.

    Returns
    -------
    str

    Examples
    --------
    >>> fmt_ci(0.3512, 0.171, 0.5149)
    '0.35 [0.17, 0.51]'
    """
    if is_missing(est):
        return na
    if is_missing(lb) and is_missing(ub):
        return fmt_num(est, digits, na)
    return f"{fmt_num(est, digits, na)} [{fmt_num(lb, digits, na)}, {fmt_num(ub, digits, na)}]"


Format = int | str | Callable[[Any], str]


def column_formatter(spec: Format | None, series: pd.Series, na: str) -> Callable[[Any], str]:
    """Turn a column format spec into a function value -> text."""
    if callable(spec):
        return lambda v: na if is_missing(v) else str(spec(v))
    if spec is None:
        if pd.api.types.is_bool_dtype(series):
            return lambda v: na if is_missing(v) else ("yes" if v else "no")
        if pd.api.types.is_integer_dtype(series):
            return lambda v: na if is_missing(v) else str(int(v))
        if pd.api.types.is_float_dtype(series):
            vals = series.dropna()
            if len(vals) and np.all(np.equal(np.mod(vals, 1), 0)) and vals.abs().max() < 1e15:
                return lambda v: na if is_missing(v) else str(int(v))  # counts stored as float
            return lambda v: fmt_num(v, 2, na)
        return lambda v: na if is_missing(v) else str(v)
    if isinstance(spec, bool):
        raise TypeError("a column format cannot be a bool")
    if isinstance(spec, int):
        return lambda v: fmt_num(v, spec, na)
    if isinstance(spec, str):
        if spec in ("int", "d"):
            return lambda v: na if is_missing(v) else str(int(round(float(v))))
        if spec == "text":
            return lambda v: na if is_missing(v) else str(v)
        m = re.fullmatch(r"p(\d?)", spec)
        if m:
            d = int(m.group(1) or 3)
            return lambda v: fmt_p(v, d, na)
        m = re.fullmatch(r"(?:%|pct)(\d?)", spec)
        if m:
            d = int(m.group(1) or 1)
            return lambda v: na if is_missing(v) else f"{fmt_num(v, d)}%"
        if "{" in spec:
            return lambda v: na if is_missing(v) else spec.format(v)
        return lambda v: na if is_missing(v) else format(v, spec)
    raise TypeError(f"unsupported column format {spec!r}")


