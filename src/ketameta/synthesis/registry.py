"""The registry of analysis kinds: one module per kind, found by the config's ``type``.

Every module of :mod:`ketameta.synthesis.kinds` registers its kind when imported; importing
:mod:`ketameta.synthesis` imports them all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .kinds.base import AnalysisKind

__all__ = ["KINDS", "register", "kind_of"]

#: ``type`` (as written in config/config.yaml) -> the kind that owns it
KINDS: dict[str, AnalysisKind] = {}


def register(cls):
    """Class decorator: register one instance of an :class:`AnalysisKind` under ``cls.type``."""
    if cls.type in KINDS:
        raise ValueError(f"analysis kind {cls.type!r} registered twice")
    KINDS[cls.type] = cls()
    return cls


def kind_of(spec_or_type) -> AnalysisKind:
    """The kind of an analysis spec, a fit record (both have ``type``) or a type name."""
    t = spec_or_type if isinstance(spec_or_type, str) else spec_or_type["type"]
    try:
        return KINDS[t]
    except KeyError:
        raise KeyError(f"no analysis kind {t!r}; known: {', '.join(sorted(KINDS))}") from None
