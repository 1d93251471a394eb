"""Weighted least-squares building blocks with cost linear in k.

Every quantity of a univariate (meta-)regression that metafor computes from k x k matrices
(``P = W - W X (X'WX)^-1 X'W``, its traces, quadratic forms and hat values) is computed here
from p x p matrices and length-k vectors, so fitting costs O(k p^2) time and O(k p) memory.

Identities used (``A = (X'WX)^-1``, ``h_i = w_i x_i' A x_i``, ``e = y - X b``):

* ``y'Py = sum(w e^2)``, ``y'PPy = sum(w^2 e^2)``
* ``tr(P D) = sum(d w (1 - h))``
* ``tr(P D P D) = sum(d^2 w^2) - 2 sum(d^2 w^2 h) + tr((A M)^2)`` with ``M = X' diag(d w^2) X``

The functions are private; the public models in :mod:`ketameta.rma` use them.
"""

from __future__ import annotations

import numpy as np
from scipy import linalg

from .errors import ModelError


def _inv_pd(M: np.ndarray) -> np.ndarray:
    """Inverse of a symmetric positive-definite p x p matrix (Cholesky)."""
    try:
        c = linalg.cho_factor(M, lower=True, check_finite=False)
        return linalg.cho_solve(c, np.eye(M.shape[0]), check_finite=False)
    except linalg.LinAlgError:
        return np.linalg.pinv(M)


class WFit:
    """Weighted least-squares fit ``b = (X'WX)^-1 X'W y`` and the traces of ``P``.

    Parameters
    ----------
    y, w : ndarray of shape (k,)
        Outcomes and weights.
    X : ndarray of shape (k, p)
        Design matrix.
    """

    __slots__ = ("y", "w", "X", "A", "b", "e", "h", "_XA")

    def __init__(self, y, w, X):
        self.y, self.w, self.X = y, w, X
        XtW = X.T * w
        self.A = _inv_pd(XtW @ X)
        self.b = self.A @ (XtW @ y)
        self.e = y - X @ self.b
        self._XA = X @ self.A
        # hat values of the weighted fit: h_i = w_i x_i' A x_i
        self.h = w * np.einsum("ij,ij->i", self._XA, X)

    # quadratic forms ---------------------------------------------------------
    def rss(self) -> float:
        """``y'Py = sum(w e^2)``."""
        return float(np.dot(self.w, self.e * self.e))

    def ypp(self) -> float:
        """``y'PPy = sum(w^2 e^2)``."""
        u = self.w * self.e
        return float(np.dot(u, u))

    def yppp(self) -> float:
        """``y'PPPy = u'Pu`` with ``u = W e``."""
        u = self.w * self.e
        g = self.X.T @ (self.w * u)
        return float(np.dot(self.w, u * u) - g @ self.A @ g)

    # traces -------------------------------------------------------------------
    def trP(self) -> float:
        """``tr(P)``."""
        return float(np.sum(self.w * (1.0 - self.h)))

    def trPD(self, d) -> float:
        """``tr(P D)`` for ``D = diag(d)``."""
        return float(np.sum(d * self.w * (1.0 - self.h)))

    def trPDPD(self, d=None) -> float:
        """``tr(P D P D)``; with ``d=None`` this is ``tr(P P)``."""
        w2 = self.w * self.w
        a = w2 if d is None else d * w2
        dd = np.ones_like(self.w) if d is None else d
        M = (self.X.T * a) @ self.X
        AM = self.A @ M
        return float(np.sum(dd * dd * w2) - 2.0 * np.sum(dd * dd * w2 * self.h) + np.sum(AM * AM.T))

    def trPPD(self, d) -> float:
        """``tr(P P D)`` (= ``tr(P D P)``)."""
        w2 = self.w * self.w
        G = (self.X.T * w2) @ self.X
        AGA = self.A @ G @ self.A
        q = np.einsum("ij,jk,ik->i", self.X, AGA, self.X)
        return float(np.sum(d * (w2 - 2.0 * w2 * self.h + w2 * q)))

    def logdet_xtwx(self) -> float:
        """``log det(X'WX)``."""
        sign, val = np.linalg.slogdet(self.A)
        return float(-val)


def check_full_rank(X: np.ndarray, names) -> None:
    """Raise :class:`ModelError` naming the moderators that are linear combinations of others."""
    if X.shape[1] == 0:
        return
    # scale columns so that the rank decision does not depend on units
    scale = np.sqrt(np.sum(X * X, axis=0))
    if np.any(scale == 0):
        zero = [names[j] for j in np.flatnonzero(scale == 0)]
        raise ModelError(
            f"Moderator(s) {', '.join(map(repr, zero))} are zero for every study, so their "
            "coefficients cannot be estimated. Remove them from the model."
        )
    Xs = X / scale
    tol = 1e-10
    kept: list[int] = []
    collinear: list[int] = []
    for j in range(Xs.shape[1]):
        cand = kept + [j]
        s = np.linalg.svd(Xs[:, cand], compute_uv=False)
        if s[-1] / s[0] < tol:
            collinear.append(j)
        else:
            kept.append(j)
    if collinear:
        bad = ", ".join(repr(names[j]) for j in collinear)
        raise ModelError(
            f"The model matrix is not of full rank: {bad} "
            f"{'is a linear combination' if len(collinear) == 1 else 'are linear combinations'} "
            f"of {', '.join(repr(names[j]) for j in kept)}. Remove or combine the collinear "
            "moderator(s); with few studies a moderator can also be constant across all of them."
        )
