"""Backend registry.

Every backend is one module exposing the same small set of functions, all of which
return *sums* over samples (the caller divides by the total sample weight and adds
the penalty, see :mod:`fastlr._loss`):

``binary_sums(X, y, sample_weight, w, b, n_threads=None) -> (J_sum, dw_sum, db_sum)``
    X  # IN (n_samples, n_features) float32 or float64
    y  # IN (n_samples,) same dtype as X, values in {0, 1}
    sample_weight  # IN (n_samples,) same dtype as X, or None (all ones)
    w  # IN (n_features,)
    b  # IN scalar intercept
    J_sum  # OUT float: sum_i s_i * L(sigmoid(x_i . w + b), y_i)
    dw_sum  # OUT (n_features,) float64: sum_i s_i * (a_i - y_i) * x_i
    db_sum  # OUT float: sum_i s_i * (a_i - y_i)

``multinomial_sums(X, y, sample_weight, W, B, n_threads=None) -> (J_sum, dW_sum, dB_sum)``
    y  # IN (n_samples,) integer class indices in [0, n_classes)
    W  # IN (n_classes, n_features); B  # IN (n_classes,)
    J_sum  # OUT float: sum_i s_i * (logsumexp(z_i) - z_i[y_i]), z_i = W x_i + B
    dW_sum  # OUT (n_classes, n_features) float64: sum_i s_i (p_i - onehot(y_i)) x_i^T
    dB_sum  # OUT (n_classes,) float64

``binary_hessian_sums(X, y, sample_weight, w, b, fit_intercept=True, n_threads=None)
-> (J_sum, dw_sum, db_sum, H_sum)``
    ``binary_sums`` plus the Hessian of the summed loss, for Newton's method:
    H_sum  # OUT (q, q) float64, q = n_features + fit_intercept, both triangles:
           # sum_i s_i a_i (1 - a_i) [x_i, 1] [x_i, 1]^T (the 1 only with an intercept)

``multinomial_hessian_sums(X, y, sample_weight, W, B, fit_intercept=True,
n_threads=None) -> (J_sum, dW_sum, dB_sum, H_sum)``
    H_sum  # OUT (m, m) float64, m = n_classes * (n_features + fit_intercept), in the
           # order of the flat vector [W.ravel(), B]: the entry of (W[k, j], W[l, i]) is
           # sum_r s_r p_rk (delta_kl - p_rl) x_rj x_ri, with x_r. = 1 for B

    Both are optional: a backend without them (CUDA) runs the quasi-Newton solver for
    ``solver="newton-cholesky"``.

``binary_hessian_cols(X, sample_weight, w, b, cols, fit_intercept=True, n_threads=None)
-> H_sum``
    cols  # IN (n_cols,) int64, sorted distinct feature indices
    H_sum  # OUT (n_cols + fit_intercept,) * 2 float64: the rows and columns of
           # binary_hessian_sums's H_sum for w[cols] and the intercept
    Optional: the working-set proximal Newton solver (L1 with many features) needs it.

``takes_active_rows(X) -> bool``
    Optional: true where ``binary_sums`` and ``multinomial_sums`` take an
    ``active_rows=`` keyword for this X, the increasing indices of the only rows whose
    ``sample_weight`` may be non-zero, and then read only those rows (the sums are the
    same). Cross-validation folds use it (:mod:`fastlr._cv_path`).

``binary_fold_sums(X, y, sample_weight, member, folds, W, B, n_threads=None)
-> [(J_sum, dw_sum, db_sum), ...]``
    member  # IN (n_samples,) int64: bit f set where the row is a training row of fold f
    folds  # IN (F,) int, requested folds (< 63); W  # IN (F, n_features); B  # IN (F,)
    Optional, dense X only: ``binary_sums`` of every requested fold at its own
    coefficients, over its training rows (with ``sample_weight``), in one pass over X
    where the backend can (cross-validation folds in lockstep, :mod:`fastlr._cv_joint`).

``linear_predict(X, W, B, n_threads=None) -> Z``
    Z  # OUT (n_samples, n_classes), dtype of X: X W^T + B

``predict_classes(X, W, B, group_size, rows, n_threads=None) -> classes``
    W  # IN (n_models * group_size, n_features); B  # IN (n_models * group_size,)
    rows  # IN (n_rows,) int, rows of X
    classes  # OUT (n_rows, n_models) int64: per model (``group_size`` rows of W: 1
             # binary, n_classes multinomial), the class index its
             # ``linear_predict`` scores give for ``X[rows]`` (``z > 0``, or the first
             # ``argmax``)
    Optional, dense X only: the accuracy of a fold's models at every ``C`` in one
    pass over its test rows, never copied (:mod:`fastlr._cv_path`).

``is_available() -> bool`` and ``NAME``.

``X`` is a C-contiguous ndarray or a ``scipy.sparse`` CSR matrix whose structure the
caller has checked (:func:`fastlr._data.check_csr`); outputs are dense either way.

Dask arrays are not a backend of their own name: :func:`backend_for` wraps the
in-memory backend chosen for the chunks in a
:class:`fastlr.backends.dask_backend.DaskSums`, which fulfils the same contract.

Modules are imported lazily: importing :mod:`fastlr` imports neither Numba, CUDA nor
Dask.
"""

from __future__ import annotations

from ._registry import (
    AUTO_NUMBA_MIN_ELEMENTS,
    available_backends,
    backend_names,
    get_backend,
    resolve_backend_name,
)

__all__ = [
    "AUTO_NUMBA_MIN_ELEMENTS",
    "available_backends",
    "backend_for",
    "backend_names",
    "get_backend",
    "resolve_backend_name",
]


def backend_for(name, kind, n_elements=None, n_jobs=None):
    """The backend that computes the sums for an X of this kind: ``(name_used, backend)``.

    name : "auto" or a backend name
    kind : "dense", "csr" or "dask" (see :func:`fastlr._data.input_kind`)
    n_elements : stored elements of X (in-memory kinds), for "auto"
    n_jobs : Numba threads per chunk kernel (Dask only; in memory the objective passes
        its own thread count at every call)
    """
    if kind != "dask":
        resolved = resolve_backend_name(name, n_elements)
        return resolved, get_backend(resolved)
    if name == "cuda":
        raise ValueError("backend='cuda' does not run on Dask arrays; use 'auto', "
                         "'numba' or 'numpy'.")
    kernel = resolve_backend_name("numba" if name == "auto" else name)
    from .dask_backend import DaskSums, client

    return f"dask+{kernel}", DaskSums(kernel, client(), n_jobs)
