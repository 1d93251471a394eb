"""One module per analysis kind; importing this package registers them all."""

from . import (  # noqa: F401
    approaches,
    associations,
    correlation,
    coverage,
    cumulative,
    direction,
    durability,
    metareg,
    relapse,
    slopes,
    sof,
    subgroups,
)
