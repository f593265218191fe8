"""Penalty objects (fastlr._penalty) against their definitions, computed by brute force."""

import numpy as np
import pytest
from scipy import optimize

from fastlr._penalty import Penalty, make_penalty

RATIOS = [0.0, 0.3, 1.0]


def _coef(rng, k=7, n_intercepts=2):
    c = rng.standard_normal(k + n_intercepts)
    c[[1, 4]] = 0.0  # some penalised entries exactly at zero
    return c


@pytest.mark.parametrize("l1_ratio", RATIOS)
def test_value_is_the_formula_and_skips_the_intercepts(rng, l1_ratio):
    c = _coef(rng)
    pen = Penalty(0.7, l1_ratio, 7)
    w = c[:7]
    expected = 0.7 * ((1 - l1_ratio) / 2 * w @ w + l1_ratio * np.abs(w).sum())
    assert pen.value(c) == pytest.approx(expected, rel=1e-14)
    assert pen.l1_value(c) == pytest.approx(0.7 * l1_ratio * np.abs(w).sum(), rel=1e-14)
    c2 = c.copy()
    c2[7:] += 100.0  # intercepts are never penalised
    assert pen.value(c2) == pen.value(c)
    assert pen.smooth == (l1_ratio == 0.0)


def test_make_penalty_maps_C_as_scikit_learn():
    pen = make_penalty(C=0.5, l1_ratio=0.25, sw_sum=40.0, n_penalised=3)
    # 1 / (C sum s) against the mean loss is 1 / C against the summed loss
    assert pen.alpha == pytest.approx(1.0 / 20.0)
    assert pen.l1 == pytest.approx(0.25 / 20.0) and pen.l2 == pytest.approx(0.75 / 20.0)
    none = make_penalty(C=np.inf, l1_ratio=1.0, sw_sum=40.0, n_penalised=3)
    assert none.alpha == 0.0 and none.smooth and none.value(np.ones(3)) == 0.0


@pytest.mark.parametrize("x", [-2.0, -0.05, 0.0, 0.03, 1.5])
@pytest.mark.parametrize("step", [0.1, 1.0])
def test_prox_1d_minimises_its_definition(x, step):
    pen = Penalty(0.4, 0.5, 1)  # l1 = 0.2
    z = pen.prox_1d(x, step)
    res = optimize.minimize_scalar(lambda v: (v - x) ** 2 / (2 * step) + pen.l1 * abs(v),
                                   bounds=(-5, 5), method="bounded",
                                   options={"xatol": 1e-12})
    assert z == pytest.approx(res.x, abs=1e-8)
    if abs(x) <= step * pen.l1:
        assert z == 0.0  # exactly


def test_prox_leaves_the_intercepts_alone(rng):
    c = _coef(rng)
    pen = Penalty(2.0, 1.0, 7)
    out = pen.prox(c, 10.0)  # threshold 20: every penalised entry goes to zero
    assert np.all(out[:7] == 0.0)
    np.testing.assert_array_equal(out[7:], c[7:])
    np.testing.assert_array_equal(Penalty(2.0, 0.0, 7).prox(c, 10.0), c)


@pytest.mark.parametrize("l1_ratio", RATIOS)
def test_subdiff_distance_is_the_distance_to_the_subdifferential(rng, l1_ratio):
    """Brute force: min over subgradients s of |g + s| per entry, s in l1 * sign set."""
    c = _coef(rng)
    g = rng.standard_normal(c.size) * 0.5
    g[4] = 0.1  # at zero with |g| < l1: zero is optimal along this entry
    pen = Penalty(0.6, l1_ratio, 7)
    l1 = pen.l1
    expected = np.abs(g)
    for j in range(7):
        if c[j] != 0:
            expected[j] = abs(g[j] + l1 * np.sign(c[j]))
        else:
            s = np.linspace(-l1, l1, 20001)
            expected[j] = np.min(np.abs(g[j] + s))
    np.testing.assert_allclose(pen.subdiff_distance(c, g), expected, atol=l1 / 1e4 + 1e-15)
    assert pen.violation(c, g) == pytest.approx(np.max(expected), abs=l1 / 1e4 + 1e-15)
    # the pseudo-gradient's sign: -pg is a descent direction of the whole objective
    pg = pen.pseudo_gradient(c, g)

    def F(v):
        return pen.l1_value(v) + g @ v  # first-order model of the objective

    if np.any(pg):
        eps = 1e-7
        assert F(c - eps * pg) < F(c)


def test_bad_penalty_arguments():
    with pytest.raises(ValueError, match="alpha"):
        Penalty(-1.0, 0.5, 3)
    with pytest.raises(ValueError, match="l1_ratio"):
        Penalty(1.0, 1.5, 3)
    with pytest.raises(ValueError, match="l1_ratio"):
        Penalty(1.0, np.nan, 3)
