"""One module per analysis kind; importing this package registers them all."""

from . import approaches, correlation, direction, durability, metareg, relapse, slopes, sof, subgroups  # noqa: F401
