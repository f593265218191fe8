"""Penalties as data: L2, L1 and the elastic net, on the flat coefficient vector.

With scikit-learn 1.9's meaning of ``C`` and ``l1_ratio`` (``r``), the penalty is::

    P(W) = alpha * ((1 - r) / 2 * ||W||_2^2  +  r * ||W||_1),   alpha = 1 / (C * sum_i s_i)

added to the *mean* weighted log-loss, i.e. ``1 / C`` times the bracket against the
*summed* loss, as scikit-learn writes it. ``C = np.inf`` gives ``alpha = 0``: no
penalty. The intercepts are never penalised; for the multinomial model the norms run
over every entry of ``W``.

A penalty splits itself in two for the solvers:

``l2 = alpha * (1 - r)``
    the smooth quadratic term, which :class:`fastlr._loss.LogisticObjective` carries
    (``loss_grad`` returns the value and gradient of loss plus ``l2 / 2 ||W||^2``);
``l1 = alpha * r``
    the non-smooth term ``l1 * ||W||_1``, which the penalty object handles: its value,
    its one-coordinate proximal operator, the minimum-norm subgradient of the whole
    objective (the "pseudo-gradient") and the distance to the subdifferential, the
    optimality violation the solvers stop on.

The flat vector is ``[W.ravel(), B]`` (see :class:`fastlr._loss.LogisticObjective`):
its first ``n_penalised`` entries are penalised, the rest (intercepts) are not.
"""

from __future__ import annotations

import numpy as np


class Penalty:
    """``alpha * ((1 - l1_ratio) / 2 ||W||^2 + l1_ratio ||W||_1)`` on ``coef[:n_penalised]``.

    Parameters
    ----------
    alpha : float
        Overall strength against the mean loss, ``1 / (C * sum_i s_i)``; 0 for none.
    l1_ratio : float in [0, 1]
        The elastic-net mixing parameter: 0 is L2, 1 is L1.
    n_penalised : int
        How many leading entries of the flat coefficient vector are penalised.
    """

    def __init__(self, alpha, l1_ratio, n_penalised):
        alpha, l1_ratio = float(alpha), float(l1_ratio)
        if not (alpha >= 0 and np.isfinite(alpha)):
            raise ValueError(f"alpha must be finite and >= 0; got {alpha}.")
        if not 0.0 <= l1_ratio <= 1.0:
            raise ValueError(f"l1_ratio must be in [0, 1]; got {l1_ratio}.")
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.n_penalised = int(n_penalised)
        self.l2 = alpha * (1.0 - l1_ratio)
        self.l1 = alpha * l1_ratio

    def __repr__(self):
        return (f"{type(self).__name__}(alpha={self.alpha!r}, l1_ratio={self.l1_ratio!r}, "
                f"n_penalised={self.n_penalised})")

    @property
    def smooth(self):
        """True when there is no L1 term: any smooth solver minimises the objective."""
        return self.l1 == 0.0

    def value(self, coef):
        """The whole penalty ``l2 / 2 ||w||^2 + l1 ||w||_1`` at the flat vector ``coef``."""
        w = coef[: self.n_penalised]
        return 0.5 * self.l2 * float(np.dot(w, w)) + self.l1_value(coef)

    def l1_value(self, coef):
        """The non-smooth part alone, ``l1 ||w||_1``."""
        if self.l1 == 0.0:
            return 0.0
        return self.l1 * float(np.sum(np.abs(coef[: self.n_penalised])))

    def prox_1d(self, x, step):
        """Proximal operator of ``step * l1 |.|`` on one penalised coordinate (or
        elementwise on an array of them): soft thresholding at ``step * l1``.

        The quadratic term belongs to the smooth part, so a proximal gradient step on
        ``loss + l2 / 2 ||w||^2`` followed by this prox minimises the whole objective.
        """
        t = step * self.l1
        return np.sign(x) * np.maximum(np.abs(x) - t, 0.0)

    def prox(self, coef, step):
        """:meth:`prox_1d` on every penalised entry of ``coef``; intercepts unchanged."""
        out = np.array(coef, dtype=np.float64)
        if self.l1 != 0.0:
            k = self.n_penalised
            out[:k] = self.prox_1d(out[:k], step)
        return out

    def pseudo_gradient(self, coef, grad):
        """The minimum-norm element of the objective's subdifferential at ``coef``.

        grad  # IN (n_coef,): gradient of the smooth part (loss + ``l2`` term) at coef

        For a penalised entry ``w_j``: ``g_j + l1 sign(w_j)`` where ``w_j != 0``, else
        ``g_j + l1`` if that is negative, ``g_j - l1`` if that is positive, and 0 in
        between (``|g_j| <= l1``: zero is optimal along ``j``). Unpenalised entries keep
        ``g_j``. Its negative is the steepest-descent direction (OWL-QN's).
        """
        pg = np.array(grad, dtype=np.float64)
        if self.l1 == 0.0:
            return pg
        k, l1 = self.n_penalised, self.l1
        w, g = coef[:k], pg[:k]
        nonzero = w != 0
        at_zero = np.where(g + l1 < 0, g + l1, np.where(g - l1 > 0, g - l1, 0.0))
        pg[:k] = np.where(nonzero, g + l1 * np.sign(w), at_zero)
        return pg

    def subdiff_distance(self, coef, grad):
        """Distance from 0 to the objective's subdifferential, per entry of ``coef``:
        ``|pseudo_gradient|``; all zeros exactly at the minimum."""
        return np.abs(self.pseudo_gradient(coef, grad))

    def violation(self, coef, grad):
        """The largest :meth:`subdiff_distance`: what the solvers compare with ``tol``
        (for a smooth penalty, the largest absolute gradient entry, as L-BFGS-B's
        ``gtol`` test)."""
        return float(np.max(self.subdiff_distance(coef, grad), initial=0.0))


def make_penalty(C, l1_ratio, sw_sum, n_penalised):
    """The penalty of ``LogisticRegression(C=C, l1_ratio=l1_ratio)`` for data whose
    sample weights sum to ``sw_sum``: ``alpha = 1 / (C sw_sum)``, none for ``C = inf``."""
    C = float(C)
    if np.isinf(C):
        return Penalty(0.0, l1_ratio, n_penalised)
    scale = C * float(sw_sum)
    if not 1.0 / scale < np.inf:  # a subnormal or zero product: 1 / it overflows
        raise ValueError(f"C * sum(sample_weight) = {scale!r} is too small: the penalty "
                         "strength 1 / (C * sum(sample_weight)) overflows; use a larger C "
                         "or rescale sample_weight.")
    return Penalty(1.0 / scale, l1_ratio, n_penalised)
