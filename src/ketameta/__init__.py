"""ketameta: a small, exact meta-analysis library with metafor's vocabulary.

Effect sizes (:func:`escalc`), equal/random/mixed-effects models (:func:`rma`; many independent
ones at once: :func:`rma_batch`), inference and
diagnostics (:func:`predict`, :func:`confint`, :func:`permutest`, :func:`leave1out`,
:func:`influence`, :func:`cumul`, :func:`regtest`, :func:`trimfill`), multilevel models
(:func:`rma_mv`), cluster-robust inference (:func:`robust`) and Bayesian random-effects
meta-analysis by numerical integration (:func:`bayesmeta`). Every function is checked against
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

__all__ = [
    "convert", "confint", "ConfintResult", "escalc", "hedges_correction", "MEASURES",
    "permutest", "PermutestResult", "predict", "rma", "RMAResult", "METHODS", "TESTS",
    "rma_batch", "RMABatchResult", "permutest_batch", "PermutestBatchResult",
    "InputError", "InputErrors", "KetametaError", "ModelError",
    "leave1out", "influence", "cumul", "Leave1outResult", "InfluenceResult", "CumulResult",
    "regtest", "ranktest", "trimfill", "RegtestResult", "RanktestResult", "TrimfillResult",
    "rma_mv", "RMAMVResult", "confint_rma_mv", "RMAMVConfint", "robust", "RobustResult",
    "SmallDfWarning", "horizon", "HorizonResult", "timecourse", "TimecourseResult",
    "bayesmeta", "BayesmetaResult",
]
