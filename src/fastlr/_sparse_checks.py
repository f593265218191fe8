"""Structural checks of a CSR matrix, before any kernel reads it.

The Numba CSR kernels run without bounds checks, so a malformed ``indptr`` or an index
out of range would read or write outside the arrays (a wrong result or a crash).
:func:`check_csr_structure` turns each such defect into a ``ValueError`` naming it.
It costs one vectorised pass over ``indices`` (its maximum, read as unsigned) and one
over ``indptr``, with no temporary of their size.
"""

from __future__ import annotations

import numpy as np


def check_csr_structure(X):
    """Raise ``ValueError`` unless X's CSR arrays describe a valid matrix of X.shape.

    Parameters
    ----------
    X : scipy.sparse CSR matrix or array (``csr_matrix``, ``csr_array``)
        Anything with ``shape``, ``data``, ``indices`` and ``indptr`` is checked.

    Checked: a non-negative 2-d shape; 1-d ``data``, and integer 1-d ``indices`` and
    ``indptr``; ``len(indptr) == n_samples + 1``; ``indptr[0] == 0``; ``indptr``
    non-decreasing; ``indptr[-1] <= len(indices)`` and ``<= len(data)``; every index
    of a stored value in ``[0, n_features)``. Not checked (allowed): spare storage
    after ``indptr[-1]`` (as scipy allows; the kernels never read it), unsorted
    indices within a row, duplicate entries (they add), explicit zeros, non-finite
    values (checked elsewhere, with the other input values).
    """
    shape = tuple(int(d) for d in X.shape)
    if len(shape) != 2:
        raise ValueError(f"Sparse X must be 2-d, got shape {shape}.")
    n_samples, n_features = shape
    if n_samples < 0 or n_features < 0:
        raise ValueError(f"Sparse X has a negative shape {shape}.")
    data = np.asarray(X.data)
    indices = np.asarray(X.indices)
    indptr = np.asarray(X.indptr)
    for name, a in (("data", data), ("indices", indices), ("indptr", indptr)):
        if a.ndim != 1:
            raise ValueError(f"Sparse X's {name} must be 1-d, got shape {a.shape}.")
    for name, a in (("indices", indices), ("indptr", indptr)):
        if a.dtype.kind not in "iu":
            raise ValueError(f"Sparse X's {name} must be integers, got dtype {a.dtype}.")
    if indptr.shape[0] != n_samples + 1:
        raise ValueError(
            f"Sparse X's indptr has length {indptr.shape[0]}; a CSR matrix with "
            f"{n_samples} rows needs n_samples + 1 = {n_samples + 1}."
        )
    if indptr[0] != 0:
        raise ValueError(f"Sparse X's indptr must start at 0, got indptr[0] = {indptr[0]}.")
    if n_samples > 0 and np.any(indptr[1:] < indptr[:-1]):
        row = int(np.argmax(indptr[1:] < indptr[:-1]))
        raise ValueError(
            f"Sparse X's indptr must be non-decreasing: indptr[{row + 1}] = "
            f"{indptr[row + 1]} < indptr[{row}] = {indptr[row]}."
        )
    nnz = int(indptr[-1])
    if nnz > indices.shape[0]:
        raise ValueError(
            f"Sparse X's indptr[-1] = {nnz} (the number of stored values) exceeds "
            f"len(indices) = {indices.shape[0]}."
        )
    if nnz > data.shape[0]:
        raise ValueError(
            f"Sparse X's indptr[-1] = {nnz} exceeds len(data) = {data.shape[0]}."
        )
    if nnz:
        bad = _first_index_out_of_range(indices[:nnz], n_features)
        if bad is not None:
            raise ValueError(
                f"Sparse X has a column index out of range [0, {n_features}): "
                f"indices[{bad}] = {indices[bad]}."
            )


def _first_index_out_of_range(indices, n_features):
    """Position of the first index outside [0, n_features), or None.

    Read as unsigned, a negative index becomes at least 2**(bits - 1), so one ``max``
    over the unsigned view finds both kinds of bad index, provided n_features is
    below that bound (always true for int64, and for int32 up to 2**31 features).
    """
    if indices.dtype.kind == "i":
        half = 1 << (8 * indices.dtype.itemsize - 1)
        unsigned = indices.view(indices.dtype.str.replace("i", "u"))
        if n_features <= half:
            if int(unsigned.max()) < n_features:
                return None
        elif int(indices.min()) >= 0 and int(indices.max()) < n_features:
            return None
    elif int(indices.max()) < n_features:
        return None
    return int(np.argmax((indices < 0) | (indices >= n_features)))
