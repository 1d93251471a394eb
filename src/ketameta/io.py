"""Small file-system helpers shared by the output writers.

Every writer in ketameta (tables, figures, values, references, the report) goes through
:func:`atomic_write`, so an exception half-way through writing never leaves a truncated or
partial file behind: either the complete new file is in place, or the previous file (if any) is
untouched.
"""

from __future__ import annotations

import contextlib
import functools
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_write"]


@functools.cache
def _umask() -> int:
    # os.umask can only be read by setting it; do that once per process.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_write(
    path: str | os.PathLike[str],
    mode: str = "w",
    *,
    encoding: str | None = "utf-8",
    newline: str | None = "\n",
    makedirs: bool = True,
) -> Iterator[IO[Any]]:
    r"""Open a temporary file next to ``path`` and move it into place when the block succeeds.

    The temporary file is created in the same directory as ``path`` (so :func:`os.replace` is an
    atomic rename on POSIX and Windows), flushed and ``fsync``-ed, given the permissions a
    normally created file would have (``0o666`` minus the umask) and then renamed over ``path``.
    If the ``with`` block raises, the temporary file is removed and ``path`` is left as it was.

    Parameters
    ----------
    path : str or os.PathLike
        Final destination.
    mode : {"w", "wb"}
        Text or binary mode. Appending makes no sense for an atomic replacement and is refused.
    encoding : str or None, default "utf-8"
        Text encoding (ignored in binary mode).
    newline : str or None, default "\\n"
        Newline translation for text mode; the default writes ``\\n`` on every platform so the
        bytes do not depend on the operating system.
    makedirs : bool, default True
        Create missing parent directories.

    Yields
    ------
    file object
        The open temporary file; write to it as to ``open(path, mode)``.

    Examples
    --------
    >>> with atomic_write("out/example.tex") as fh:  # doctest: +SKIP
    ...     fh.write("\\\\newcommand{\\\\Example}{1}\\n")
    """
    if mode not in ("w", "wb", "wt"):
        raise ValueError(f"atomic_write supports mode 'w' or 'wb', not {mode!r}")
    final = Path(path)
    if makedirs:
        final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=final.parent, prefix=f".{final.name}.", suffix=".tmp")
    binary = "b" in mode
    try:
        if binary:
            fh = os.fdopen(fd, "wb")
        else:
            fh = os.fdopen(fd, "w", encoding=encoding, newline=newline)
    except BaseException:
        os.close(fd)
        os.unlink(tmp)
        raise
    try:
        with fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
