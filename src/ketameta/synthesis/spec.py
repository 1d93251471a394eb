"""The typed specification of one configured analysis."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

__all__ = ["AnalysisSpec"]

_COMMON = ("id", "type", "title", "level", "seed", "grades", "exploratory_k")


@dataclass(frozen=True)
class AnalysisSpec(Mapping):
    """One analysis of ``config/config.yaml`` with the global settings it needs.

    The common fields are typed attributes; the kind-specific keys of the config entry
    (``select``, ``measure``, ``method``, ``windows``, ``moderator``, ...) are in ``options``.
    The spec is also a read-only mapping over both (``spec["method"]``, ``spec.get("windows")``),
    so kind modules read their options the way the config names them.
    """

    id: str
    type: str
    title: str
    level: float = 95.0
    seed: int | None = None
    grades: tuple[str, ...] = ("P", "S")
    exploratory_k: int = 10
    options: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> AnalysisSpec:
        """Build a spec from a flat dict (a config entry plus ``id``, ``level``, ``seed``, ...)."""
        d = dict(d)
        common = {k: d.pop(k) for k in _COMMON if k in d}
        common.setdefault("title", common.get("id", ""))
        if "grades" in common:
            common["grades"] = tuple(common["grades"])
        return cls(options=d, **common)

    @classmethod
    def from_config(cls, config: Mapping[str, Any], aid: str) -> AnalysisSpec:
        """The spec of analysis ``aid`` of a (validated) configuration."""
        return cls.from_dict(flat_spec(config, aid))

    def replace(self, **changes) -> AnalysisSpec:
        """A copy with common fields or options changed (for sensitivity variants)."""
        common = {k: v for k, v in changes.items() if k in _COMMON}
        opts = {k: v for k, v in changes.items() if k not in _COMMON}
        if "grades" in common:
            common["grades"] = tuple(common["grades"])
        return replace(self, **common, options={**self.options, **opts})

    def _merged(self) -> dict[str, Any]:
        return {**{k: getattr(self, k) for k in _COMMON}, **self.options}

    def __getitem__(self, key: str) -> Any:
        if key in _COMMON:
            return getattr(self, key)
        return self.options[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._merged())

    def __len__(self) -> int:
        return len(self._merged())


def flat_spec(config: Mapping[str, Any], aid: str) -> dict[str, Any]:
    """The config entry of analysis ``aid`` plus the global settings, as a plain dict."""
    spec = dict(config["analyses"][aid])
    spec.update(id=aid, level=config["level"], seed=config["seed"], grades=list(config["grades"]),
                exploratory_k=config.get("exploratory_k", 10))
    if "crossover_rho" in config:
        spec.setdefault("crossover_rho", config["crossover_rho"])
    if "bayes" in config:
        spec.setdefault("bayes", config["bayes"])
    from .registry import kind_of

    # a kind that summarises other analyses carries their specs (e.g. subgroups, sof)
    return kind_of(spec["type"]).expand_spec(spec, config)
