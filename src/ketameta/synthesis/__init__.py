"""The ketamine evidence synthesis built on the library.

* :mod:`.spec` -- the typed specification of one configured analysis;
* :mod:`.registry` and :mod:`.kinds` -- one module per analysis kind (rows, fit, table, figure,
  sentences, in-text values, findings for the claims), found by the config's ``type``;
* :mod:`.select` and :mod:`.effects` -- the rows an analysis draws on and their effect sizes;
* :mod:`.pools` -- pooling one window (shared by the pooled kinds);
* :mod:`.pipeline` -- one entry point per workflow stage, for any kind;
* :mod:`.claims`, :mod:`.sensitivity`, :mod:`.summaries`, :mod:`.prisma` -- across analyses;
* :mod:`.workflow` -- what the Snakefile calls at parse time (config and evidence validation).

All statistics come from the library (:func:`ketameta.rma`, :func:`ketameta.rma_mv`, ...).
"""

from . import kinds  # noqa: F401  (registers every analysis kind)
