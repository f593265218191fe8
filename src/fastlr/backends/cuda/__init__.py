"""CUDA backend: fused one-pass kernels written with ``numba.cuda``.

The functions follow the backend contract of :mod:`fastlr.backends` (they return
*sums* over samples). Everything CUDA lives in this package; it is imported only when
the ``"cuda"`` backend is asked for, and it still imports (with :func:`is_available`
returning ``False``) where ``numba.cuda`` itself cannot be imported.

- :mod:`~fastlr.backends.cuda.kernels`: the tiled dense kernels (device code);
- :mod:`~fastlr.backends.cuda.row_kernels`: the row-per-group kernels, dense binary
  and CSR (device code);
- :mod:`~fastlr.backends.cuda.launch`: launch configuration;
- :mod:`~fastlr.backends.cuda.driver`: availability, data movement and the backend
  functions re-exported here.

Availability
------------
:func:`is_available` is ``True`` where ``numba.cuda`` finds a usable GPU of compute
capability 6.0 or newer (float64 atomics), and also under Numba's CUDA simulator
(``NUMBA_ENABLE_CUDASIM=1`` set before Numba is first imported). The simulator runs
the same kernels in Python threads, very slowly, so that the backend and the
estimator can be tested on machines without a GPU; it says nothing about speed, and
it has no warp shuffles, so there the row-per-group kernels add a group's partial
sums through shared memory instead (the one difference between the two).

Input and keeping the data on the device
----------------------------------------
``X`` is a dense float32/float64 array (host NumPy array, Numba device array, or any
object that exports ``__cuda_array_interface__``: CuPy arrays, PyTorch CUDA tensors,
wrapped without a copy) or a ``scipy.sparse`` CSR matrix (``csr_matrix`` or
``csr_array``: float32/float64 values, int32/int64 indices, unsorted indices, empty
rows, explicit zeros and duplicates allowed). Host input is copied to the device on
every call, which is correct but pays the bus each time. A fit should instead call::

    X_d, y_d, sample_weight_d = prepare(X, y, sample_weight)

once (``X_d`` is a :class:`DeviceCSR` for CSR input) and hand the returned device
data to :func:`binary_sums` / :func:`multinomial_sums` at every iteration: then only
the coefficients travel to the device (one small copy) and the sums travel back (one
small copy) per iteration. :func:`to_device` does the same for a single array.
:func:`linear_predict` returns a host ndarray for host input and a Numba device array
(which exports ``__cuda_array_interface__``) for device input.

Launch configuration (``threads_per_block``, ``n_blocks``, and per kernel family
``tile_width``, ``rows_per_chunk`` or ``lanes_per_row``) is a keyword argument of
every backend function; the defaults derive from the device and the problem shape.
"""

from .driver import (
    DeviceCSR,
    binary_sums,
    is_available,
    is_device_array,
    linear_predict,
    multinomial_sums,
    prepare,
    to_device,
)

NAME = "cuda"

__all__ = [
    "NAME",
    "DeviceCSR",
    "binary_sums",
    "is_available",
    "is_device_array",
    "linear_predict",
    "multinomial_sums",
    "prepare",
    "to_device",
]
