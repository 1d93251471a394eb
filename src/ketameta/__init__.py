"""ketameta: a small, exact meta-analysis library with metafor's vocabulary.

Effect sizes (:func:`escalc`), equal/random/mixed-effects models (:func:`rma`; many independent
ones at once: :func:`rma_batch`), inference and
diagnostics (:func:`predict`, :func:`confint`, :func:`permutest`, :func:`leave1out`,
:func:`influence`, :func:`cumul`, :func:`regtest`, :func:`trimfill`), multilevel models
(:func:`rma_mv`), cluster-robust inference (:func:`robust`) and Bayesian random-effects
meta-analysis by numerical integration (:func:`bayesmeta`); :func:`forest` and :func:`funnel`
plot a fitted model. Every function is checked against
metafor outputs and published worked examples (see ``tests/reference``).
"""

from . import convert
from .batch import RMABatchResult, rma_batch
from .bayesmeta import BayesmetaResult, bayesmeta
from .confint import ConfintResult, confint
from .diagnostics import CumulResult, InfluenceResult, Leave1outResult, cumul, influence, leave1out
from .errors import InputError, InputErrors, KetametaError, ModelError
from .escalc import MEASURES, escalc, hedges_correction
from .horizon import HorizonResult, horizon
from .permutest import PermutestBatchResult, PermutestResult, permutest, permutest_batch
from .predict import predict
from .pubbias import RanktestResult, RegtestResult, TrimfillResult, ranktest, regtest, trimfill
from .rma import METHODS, TESTS, RMAResult, rma
from .rma_mv import RMAMVConfint, RMAMVResult, confint_rma_mv, rma_mv
from .robust import RobustResult, SmallDfWarning, robust
from .timecourse import TimecourseResult, timecourse

__version__ = "0.1.0"


def forest(res, **kwargs):
    """Forest plot of a fitted model (metafor's ``forest(res)``); returns a matplotlib Figure.

    See :func:`ketameta.outputs.plots.forest_of` for the options (``transf=np.exp`` for log
    ratios, ``xlabel``, ``width``, ...). matplotlib is imported only when a plot is drawn.
    """
    from .outputs.plots import forest_of

    return forest_of(res, **kwargs)


def funnel(res, **kwargs):
    """Contour-enhanced funnel plot of a fitted model (metafor's ``funnel(res)``).

    See :func:`ketameta.outputs.plots.funnel_of` for the options.
    """
    from .outputs.plots import funnel_of

    return funnel_of(res, **kwargs)


__all__ = [
    "convert", "confint", "ConfintResult", "escalc", "hedges_correction", "MEASURES",
    "permutest", "PermutestResult", "predict", "rma", "RMAResult", "METHODS", "TESTS",
    "rma_batch", "RMABatchResult", "permutest_batch", "PermutestBatchResult",
    "InputError", "InputErrors", "KetametaError", "ModelError",
    "leave1out", "influence", "cumul", "Leave1outResult", "InfluenceResult", "CumulResult",
    "regtest", "ranktest", "trimfill", "RegtestResult", "RanktestResult", "TrimfillResult",
    "rma_mv", "RMAMVResult", "confint_rma_mv", "RMAMVConfint", "robust", "RobustResult",
    "SmallDfWarning", "horizon", "HorizonResult", "timecourse", "TimecourseResult",
    "bayesmeta", "BayesmetaResult", "forest", "funnel",
]
