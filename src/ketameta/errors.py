"""Exceptions raised by ketameta.

Two families:

* :class:`InputError` -- something in an input file (data sheet, BibTeX, config) is wrong.
  It always names the file, and where known the (1-based, as an editor shows it) line and the
  column, and says what was expected.
* :class:`ModelError` -- a model cannot be fitted as asked (too few studies, collinear moderators,
  an optimiser that did not converge). It says what was tried and what to change.
"""

from __future__ import annotations

__all__ = ["KetametaError", "InputError", "InputErrors", "ModelError"]


class KetametaError(Exception):
    """Base class of every error raised on purpose by ketameta."""


class InputError(KetametaError, ValueError):
    """A problem in an input file, located by file, line and column.

    Parameters
    ----------
    message : str
        What is wrong and what was expected.
    file : str, optional
        Path of the file, as the user would type it.
    line : int, optional
        1-based line number in the file (for a CSV: the header is line 1).
    column : str, optional
        Column (or key) name.
    value : object, optional
        The offending value, shown verbatim.
    """

    def __init__(self, message, file=None, line=None, column=None, value=None):
        self.message = message
        self.file = file
        self.line = line
        self.column = column
        self.value = value
        super().__init__(self.__str__())

    def location(self) -> str:
        """Return ``file, line N, column 'x'`` (only the parts that are known)."""
        parts = []
        if self.file is not None:
            parts.append(str(self.file))
        if self.line is not None:
            parts.append(f"line {self.line}")
        if self.column is not None:
            parts.append(f"column '{self.column}'")
        return ", ".join(parts)

    def __str__(self) -> str:
        loc = self.location()
        val = "" if self.value is None else f" (found: {self.value!r})"
        return f"{loc}: {self.message}{val}" if loc else f"{self.message}{val}"


class InputErrors(InputError):
    """Several :class:`InputError` found in one pass, reported together."""

    def __init__(self, errors):
        self.errors = list(errors)
        first = self.errors[0]
        super().__init__(first.message, first.file, first.line, first.column, first.value)

    def __str__(self) -> str:
        lines = [f"{len(self.errors)} problem(s) in the input:"]
        lines += [f"  - {e}" for e in self.errors]
        return "\n".join(lines)


class ModelError(KetametaError, ValueError):
    """A model that cannot be fitted as specified; the message says what to change."""
