"""ketameta: a small, exact meta-analysis library with metafor's vocabulary.

Effect sizes (:func:`escalc`), equal/random/mixed-effects models (:func:`rma`), inference and
diagnostics (:func:`predict`, :func:`confint`, :func:`permutest`, :func:`leave1out`,
:func:`influence`, :func:`cumul`, :func:`regtest`, :func:`trimfill`), multilevel models
(:func:`rma_mv`), cluster-robust inference (:func:`robust`) and Bayesian random-effects
meta-analysis by numerical integration (:func:`bayesmeta`). Every function is checked against
metafor outputs and published worked examples (see ``tests/reference``).
"""

from . import convert
from .bayesmeta import BayesmetaResult, bayesmeta
from .citations import Citations
from .confint import ConfintResult, confint
from .diagnostics import CumulResult, InfluenceResult, Leave1outResult, cumul, influence, leave1out
from .errors import InputError, InputErrors, KetametaError, ModelError
from .escalc import MEASURES, escalc, hedges_correction
from .evidence import Evidence, data_gaps, load_evidence, number_in_passage
from .permutest import PermutestResult, permutest
from .predict import predict
from .pubbias import RanktestResult, RegtestResult, TrimfillResult, ranktest, regtest, trimfill
from .rma import METHODS, TESTS, RMAResult, rma
from .rma_mv import RMAMVConfint, RMAMVResult, confint_rma_mv, rma_mv
from .robust import RobustResult, SmallDfWarning, robust
from .tables import Table
from .values import macro_name, write_values

__version__ = "0.1.0"

__all__ = [
    "convert", "confint", "ConfintResult", "escalc", "hedges_correction", "MEASURES",
    "permutest", "PermutestResult", "predict", "rma", "RMAResult", "METHODS", "TESTS",
    "InputError", "InputErrors", "KetametaError", "ModelError",
    "leave1out", "influence", "cumul", "Leave1outResult", "InfluenceResult", "CumulResult",
    "regtest", "ranktest", "trimfill", "RegtestResult", "RanktestResult", "TrimfillResult",
    "Citations", "Table", "macro_name", "write_values",
    "Evidence", "load_evidence", "data_gaps", "number_in_passage",
    "rma_mv", "RMAMVResult", "confint_rma_mv", "RMAMVConfint", "robust", "RobustResult",
    "SmallDfWarning", "bayesmeta", "BayesmetaResult",
]
