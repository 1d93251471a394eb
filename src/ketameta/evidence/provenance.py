"""Provenance checks: is a number printed in its passage, is a source a known key, times in days.

The verbatim rule is documented in ``data/README.md`` ("Verbatim numbers"): every numeric cell of
a data sheet must occur, as printed, in the passage it was read from.
"""

from __future__ import annotations

import difflib
import math
import re

from ..errors import InputError

__all__ = ["number_in_passage", "time_in_days", "key_error", "suggest", "ID_RE", "KEY_RE", "URL_RE",
           "TIME_UNIT_DAYS"]

ID_RE = re.compile(r"^[a-z][a-z0-9_]*$")
KEY_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_:.\-]*$")
URL_RE = re.compile(r"^https?://\S+$")

#: days per time unit (a month is an average Gregorian month)
TIME_UNIT_DAYS = {"min": 1 / 1440, "h": 1 / 24, "day": 1.0, "week": 7.0, "month": 30.4375}


_TOKEN_RE = re.compile(r"(?<![\d.])(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)")
_UNITS = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
          "fifteen sixteen seventeen eighteen nineteen").split()
_TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()


def _number_words(value: int) -> list[str]:
    if value < 20:
        return [_UNITS[value]]
    if value < 100:
        tens, unit = divmod(value, 10)
        if unit == 0:
            return [_TENS[tens - 2]]
        return [f"{_TENS[tens - 2]}-{_UNITS[unit]}", f"{_TENS[tens - 2]} {_UNITS[unit]}"]
    return []


def _canon(text: str):
    """Canonical (integer part, fraction part) of a number written as text, sign dropped."""
    s = text.strip().lstrip("+-\u2212\u2013").replace(",", "").rstrip("%")
    if not re.fullmatch(r"\d*\.?\d*", s) or not re.search(r"\d", s):
        return None
    ip, _, fp = s.partition(".")
    ip = ip.lstrip("0")
    if fp == "0":
        fp = ""
    if not ip and not fp:
        ip = "0"
    return ip, fp


def number_in_passage(cell_text, passage, labels=(), words=True, article=False) -> bool:
    """Does the number in ``cell_text`` occur, as written, in ``passage``?

    The comparison is token by token (so ``3.9`` is *not* found in ``13.94``) and ignores only:
    the sign (``-``, ``+``, ``\u2212``), a leading zero (``0.35`` matches ``.35``), a trailing ``.0``
    (``50`` matches ``50.0``), a trailing ``%`` and thousands commas. ``0.5`` does not match
    ``0.50``. Whole numbers 0-99 also match their English words (``18`` matches "Eighteen",
    ``61`` matches "Sixty-one"); with ``article=True`` (used for times) "a"/"an" match 1.

    ``labels`` are row labels (e.g. the ``time_text`` "Day 2") that a table copy may have run
    into the first value ("Day 214 (33.3)" = "Day 2" + "14"): the label is split off before
    matching, in addition to matching the passage as it is.
    """
    if cell_text is None or passage is None:
        return False
    cell = str(cell_text).strip()
    passage = str(passage)
    if not cell or not passage:
        return False
    target = _canon(cell)
    if target is None:
        return cell.lower() in passage.lower()
    texts = [passage]
    for label in labels or ():
        if label and label in passage:
            texts.append(passage.replace(label, label + " "))
    for text in texts:
        for m in _TOKEN_RE.finditer(text):
            if _canon(m.group(0)) == target:
                return True
    if words and not target[1] and len(target[0]) <= 2:
        value = int(target[0])
        alts = _number_words(value) + (["a", "an"] if article and value == 1 else [])
        for w in alts:
            if re.search(rf"(?<![A-Za-z\-]){re.escape(w)}(?![A-Za-z])", passage, flags=re.IGNORECASE):
                return True
    return False


def time_in_days(value, unit):
    """Convert a time value to days (min/1440, h/24, day, week*7, month*30.4375); NaN if absent."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return math.nan
    if math.isnan(v) or unit not in TIME_UNIT_DAYS:
        return math.nan
    return v * TIME_UNIT_DAYS[unit]


# --------------------------------------------------------------------------- reading



def suggest(name, known):
    """The closest known name (for 'did you mean' hints), or None."""
    hits = difflib.get_close_matches(str(name), [str(k) for k in known], n=1, cutoff=0.6)
    return hits[0] if hits else None


def key_error(value, bib_keys, file, line, column):
    """An InputError if ``value`` is neither a URL nor a BibTeX key of ``bib_keys``, else None."""
    if URL_RE.match(value):
        return None
    if not KEY_RE.match(value):
        return InputError("expected a BibTeX citation key (letters, digits, _ : . -) or an http(s) URL",
                          file=file, line=line, column=column, value=value)
    if bib_keys is not None and value not in bib_keys:
        hint = suggest(value, bib_keys)
        return InputError("citation key not found in the BibTeX file" + (f"; did you mean '{hint}'?" if hint else "; add an entry to data/references.bib"),
                          file=file, line=line, column=column, value=value)
    return None
