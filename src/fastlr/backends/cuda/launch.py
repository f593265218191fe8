"""Launch configuration of the CUDA kernels: defaults from the device and the problem
shape, checks of explicit choices against the kernels' compile-time buffers, and the
grid size of the row kernels from their occupancy.

The defaults were chosen on an NVIDIA H200 (docs/benchmarks.md): 128 threads per
block for the row kernels (fastest of 64 to 512; 512 cannot launch, the dense row
kernel needs 168 registers per thread there), 16 lanes and a batch of 8 rows per
group for 100 features.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np

from . import kernels, row_kernels
from ._compat import SIMULATOR, cuda

_BLOCKS_PER_SM = 4  # tiled dense kernel: 40 KiB of shared memory per block
_ROWS_BLOCKS_PER_SM = 4  # row-per-group kernels, where occupancy cannot be asked
_ROWS_PER_GROUP = 8  # dense row kernel: rows a group takes per pass (a few KiB of L1)
_THREADS_PER_BLOCK = 256  # tiled kernels
_ROWS_THREADS_PER_BLOCK = 128  # row-per-group kernels: fastest of 64-512 on an H200
_SIM_THREADS_PER_BLOCK = 32

_Launch = namedtuple(
    "_Launch", "threads_per_block n_blocks tile_width rows_per_chunk n_tiles"
)
_RowsLaunch = namedtuple(
    "_RowsLaunch", "threads_per_block n_blocks lanes_per_row rows_per_group"
)


def _device_properties():
    """(multiprocessor count, max threads per block) of the current device."""
    if SIMULATOR:
        return 1, kernels._RED_SIZE
    device = cuda.get_current_device()
    return (
        int(getattr(device, "MULTIPROCESSOR_COUNT", 1)),
        int(getattr(device, "MAX_THREADS_PER_BLOCK", kernels._RED_SIZE)),
    )


def _threads_per_block(threads_per_block, default=_THREADS_PER_BLOCK):
    _, max_threads = _device_properties()
    max_threads = min(max_threads, kernels._RED_SIZE)
    if threads_per_block is None:
        return _SIM_THREADS_PER_BLOCK if SIMULATOR else default
    if not 1 <= threads_per_block <= max_threads:
        raise ValueError(
            f"threads_per_block must be in [1, {max_threads}], got {threads_per_block}."
        )
    return int(threads_per_block)


def _n_blocks(n_blocks, n_work, blocks_per_sm):
    if n_blocks is None:
        sm_count, _ = _device_properties()
        return int(max(1, min(n_work, blocks_per_sm * sm_count)))
    if n_blocks < 1:
        raise ValueError(f"n_blocks must be positive, got {n_blocks}.")
    return int(n_blocks)


def _launch_config(
    n_samples,
    n_features,
    n_classes,
    threads_per_block=None,
    n_blocks=None,
    tile_width=None,
    rows_per_chunk=None,
):
    """Choose (or check) a launch of the tiled dense kernels that fits their
    shared-memory buffers."""
    if n_features < 1:
        raise ValueError("The CUDA backend needs at least one feature.")
    if not 1 <= n_classes <= kernels._MAX_CLASSES:
        raise ValueError(
            f"The CUDA backend supports 1 to {kernels._MAX_CLASSES} classes for dense "
            f"X, got {n_classes}."
        )
    max_tile = min(kernels._MAX_TILE_WIDTH, kernels._ACC_SIZE // n_classes - 1)
    if tile_width is None:
        n_tiles = -(-n_features // max_tile)
        tile_width = -(-n_features // n_tiles)  # balanced tiles
    elif not 1 <= tile_width <= max_tile:
        raise ValueError(f"tile_width must be in [1, {max_tile}], got {tile_width}.")
    tile_width = int(tile_width)
    max_rows = min(kernels._STAGE_SIZE // (tile_width | 1), kernels._Z_SIZE // n_classes)
    if rows_per_chunk is None:
        rows_per_chunk = max_rows
    elif not 1 <= rows_per_chunk <= max_rows:
        raise ValueError(
            f"rows_per_chunk must be in [1, {max_rows}] for tile_width={tile_width} "
            f"and {n_classes} classes, got {rows_per_chunk}."
        )
    threads_per_block = _threads_per_block(threads_per_block)
    n_chunks = max(1, -(-n_samples // rows_per_chunk))
    return _Launch(
        threads_per_block,
        _n_blocks(n_blocks, n_chunks, _BLOCKS_PER_SM),
        tile_width,
        int(rows_per_chunk),
        -(-n_features // tile_width),
    )


def _next_power_of_two(n):
    return 1 << max(0, int(n) - 1).bit_length()


def _rows_launch_config(
    n_samples,
    min_lanes,
    default_lanes,
    threads_per_block=None,
    n_blocks=None,
    lanes_per_row=None,
    rows_per_group=None,
):
    """Launch of a row-per-group kernel: ``lanes_per_row`` a power of two in
    [min_lanes, 32] that divides ``threads_per_block``; ``rows_per_group`` (dense
    kernel only) in [1, lanes_per_row]. ``n_blocks`` left as None here is settled at
    launch (:func:`_launch_blocks`)."""
    threads_per_block = _threads_per_block(threads_per_block, _ROWS_THREADS_PER_BLOCK)
    if lanes_per_row is None:
        lanes_per_row = min(32, max(min_lanes, default_lanes))
        while threads_per_block % lanes_per_row:
            lanes_per_row //= 2
    lanes_per_row = int(lanes_per_row)
    if (
        not min_lanes <= lanes_per_row <= 32
        or lanes_per_row & (lanes_per_row - 1)
        or threads_per_block % lanes_per_row
    ):
        raise ValueError(
            f"lanes_per_row must be a power of two in [{min_lanes}, 32] dividing "
            f"threads_per_block={threads_per_block}, got {lanes_per_row}."
        )
    max_batch = min(lanes_per_row, row_kernels._MAX_BATCH)
    if rows_per_group is None:
        rows_per_group = min(max_batch, _ROWS_PER_GROUP)
    elif not 1 <= rows_per_group <= max_batch:
        raise ValueError(
            f"rows_per_group must be in [1, min(lanes_per_row, "
            f"{row_kernels._MAX_BATCH}) = {max_batch}], got {rows_per_group}."
        )
    if n_blocks is not None and n_blocks < 1:
        raise ValueError(f"n_blocks must be positive, got {n_blocks}.")
    return _RowsLaunch(threads_per_block, n_blocks, lanes_per_row, int(rows_per_group))


_resident_cache = {}


def _launch_blocks(dispatcher, args, config, rows_per_pass, n_samples):
    """Blocks of a grid-stride row kernel: as many as the device holds at once (from
    the compiled kernel's occupancy), so that every block starts at once and takes the
    same share of passes; never more than there are passes. An explicit
    ``n_blocks`` is used as given."""
    n_passes = max(1, -(-n_samples // rows_per_pass))
    if config.n_blocks is not None:
        return config.n_blocks
    resident = None
    if not SIMULATOR:
        try:
            argtypes = tuple(dispatcher.typeof_pyval(a) for a in args)
            key = (dispatcher, argtypes, config.threads_per_block)
            resident = _resident_cache.get(key)
            if resident is None:
                kernel = dispatcher.compile(argtypes)
                resident = int(kernel.max_cooperative_grid_blocks(config.threads_per_block))
                _resident_cache[key] = resident
        except Exception:  # an API this numba-cuda lacks: fall back to a fixed count
            resident = None
    if not resident:
        resident = _ROWS_BLOCKS_PER_SM * _device_properties()[0]
    return int(max(1, min(n_passes, resident)))


def _dense_rows_launch(n_samples, n_features, **launch):
    """Launch of the dense row-per-group kernel: each lane holds at most
    ``_ROW_REGS`` features of its row."""
    if n_features > row_kernels._ROW_REGS * 32:
        raise ValueError(
            f"kernel='rows' takes at most {row_kernels._ROW_REGS * 32} features, "
            f"got {n_features}."
        )
    lanes = _next_power_of_two(-(-n_features // row_kernels._ROW_REGS))
    return _rows_launch_config(n_samples, lanes, lanes, **launch)


def _csr_launch(X_d, n_classes, **launch):
    """Launch of the CSR kernels: about two stored values per lane by default."""
    if n_classes > row_kernels._CSR_MAX_CLASSES:
        raise ValueError(
            f"The CUDA backend supports at most {row_kernels._CSR_MAX_CLASSES} classes "
            f"for CSR X, got {n_classes}."
        )
    n_samples = X_d.shape[0]
    mean_nnz = X_d.nnz / max(1, n_samples)
    default = _next_power_of_two(max(1, int(np.ceil(mean_nnz / 2))))
    return _rows_launch_config(n_samples, 1, default, **launch)


def _choose_dense_kernel(kernel, n_features, n_classes):
    if kernel is None:
        rows_fit = n_classes == 1 and n_features <= row_kernels._ROW_REGS * 32
        return "rows" if rows_fit else "tiles"
    if kernel not in ("rows", "tiles"):
        raise ValueError(f"kernel must be 'rows', 'tiles' or None, got {kernel!r}.")
    if kernel == "rows" and n_classes != 1:
        raise ValueError("kernel='rows' is binary only.")
    return kernel


_LAUNCH_KEYS = frozenset(
    ("threads_per_block", "n_blocks", "tile_width", "rows_per_chunk", "lanes_per_row",
     "rows_per_group", "kernel")
)


def _split_launch(launch):
    """Keyword arguments -> (dense tiled, row-per-group, kernel choice)."""
    unknown = set(launch) - _LAUNCH_KEYS
    if unknown:
        raise TypeError(f"Unknown launch arguments {sorted(unknown)}.")
    tiled = {k: launch.get(k) for k in ("threads_per_block", "n_blocks",
                                         "tile_width", "rows_per_chunk")}
    rows = {k: launch.get(k) for k in ("threads_per_block", "n_blocks", "lanes_per_row",
                                       "rows_per_group")}
    return tiled, rows, launch.get("kernel")
