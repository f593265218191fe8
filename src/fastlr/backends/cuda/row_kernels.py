"""Row-per-group kernels of the CUDA backend (``@cuda.jit`` device code only): the
dense binary epoch for rows of up to 256 features, and the CSR epoch and prediction.

In both a row belongs to a *group* of ``group`` consecutive lanes (a power of two up
to a warp, dividing the block size). Each block walks its rows in a grid-stride loop
over *passes* of consecutive rows, one row per group at a time (the dense kernel
gives each group a batch of rows per pass), with no block barrier inside the loop on a
GPU: a group adds its lanes' partial dot
products with warp shuffles (:func:`_group_sum`). The tiled kernels, for everything
else dense, are in :mod:`fastlr.backends.cuda.kernels`.

These kernels and the device functions they call share this one module on purpose:
the simulator points a module's ``cuda`` at its fake while a kernel of that module
runs, and a device function of another module would swap that module's ``cuda`` back
and forth under the other simulated threads.

Dense rows
----------
See :func:`_rows_binary_kernel`: a group takes a batch of rows per pass, each lane up
to ``_ROW_REGS`` features of each row; ``X`` is read from device memory once,
coalesced, and nothing is staged in shared memory; each lane's share of ``w`` and of
the gradient stays in registers until the end of the launch.
Measured on an H200 (docs/benchmarks.md): 25% (float32) and 49% (float64) of the
copy bandwidth at 10,000,000 x 100; 168 registers per thread hold a multiprocessor to
12 warps, and the kernel waits on latency. Fewer registers is the next step.

CSR
---
``X`` arrives as its three CSR arrays: ``data`` (float32 or float64), ``indices`` and
``indptr`` (int32 or int64; the kernels are compiled for each combination met). Row
``i`` holds ``data[indptr[i]:indptr[i + 1]]`` at columns
``indices[indptr[i]:indptr[i + 1]]``, in any order, duplicates adding up. The driver
has checked that ``indptr`` has ``n_samples + 1`` entries and that ``data`` and
``indices`` hold at least ``indptr[-1]``; the caller has checked that ``indptr`` is
monotone and the column indices in range, so nothing here reads out of bounds.

For its row a group

1. takes ``z = x_i . w + b``: lane ``part`` multiplies every ``group``-th stored value
   by the gathered ``w[indices[k]]`` (in float64), and the group adds its partial sums
   with warp shuffles (:func:`_group_sum`);
2. turns ``z`` into ``dz = s (a - y)`` and the loss (every lane of the group has
   ``z``, so each computes ``dz`` itself);
3. scatters ``dz * x_ij`` into ``dw[indices[k]]`` with float64 atomic adds to global
   memory, each lane the values it read in step 1 (still in L1).

The gradient is scattered with global atomics rather than summed per block because
the CSR path is meant for wide ``X`` (text, one-hot, hashing: 10^4 to 10^7 columns): a
per-block copy of ``dw`` would not fit in shared memory, and one in global memory
would cost ``n_blocks * n_features`` extra writes and reads per epoch, more than the
``nnz`` atomics it saves when rows are short. Atomics to the same column from
different rows meet in L2; frequent columns (the most common words) are where they
wait on each other. Measured on an H200 (docs/benchmarks.md), that wait dominates:
with column frequencies roughly proportional to 1 / (j + 1) the epoch ran at 1% of
the copy bandwidth, 15x slower than cupyx's two sparse products with a stored
transpose; a gather over a device copy of ``X^T`` is the change to make.

The intercept's ``dz`` goes into a per-block shared accumulator (every row would
otherwise hit one global address), the loss stays in a register per lane; both reach
``out`` with one atomic add per block at the end.

Several classes: the group takes the ``n_classes`` dot products one after another and
keeps a running maximum and sum of exponentials (an online log-sum-exp), then takes
them again, now with the log-sum-exp known, and scatters ``dz_c * x_ij`` into row
``c`` of ``dW``. Taking the dot products twice costs arithmetic and L1 reads, not
memory traffic (the row's values are still cached), and leaves no limit on the number
of classes but that of the intercept accumulator, ``_CSR_MAX_CLASSES``.

The loops are uniform across the block (every thread runs every pass and every class),
which the simulator's barrier-based group sum needs; inactive lanes past the last row
take part with an empty row.
"""

from __future__ import annotations

import math

from ._compat import SIMULATOR, cuda, float64
from .kernels import _ACC_SIZE, _RED_SIZE


@cuda.jit(device=True)
def _group_sum_shuffle(v, red, tid, group):
    """Sum of ``v`` over the ``group`` lanes (a power of two <= 32, aligned within a
    warp) that share a row; every lane gets the sum. Butterfly of warp shuffles."""
    mask = cuda.activemask()  # the whole warp, or all of a block smaller than one
    offset = group >> 1
    while offset > 0:
        v += cuda.shfl_xor_sync(mask, v, offset)
        offset >>= 1
    return v


@cuda.jit(device=True)
def _group_sum_shared(v, red, tid, group):
    """The same sum through shared memory and block barriers, for the CUDA simulator,
    which has no warp shuffles. Every thread of the block must call it."""
    cuda.syncthreads()  # the previous call's readers are done with red
    red[tid] = v
    cuda.syncthreads()
    first = tid - tid % group
    total = 0.0
    for t in range(first, first + group):
        total += red[t]
    return total


@cuda.jit(device=True)
def _group_broadcast_shuffle(v, src, red, tid, group):
    """``v`` of lane ``src`` of this lane's group, for every lane of the group."""
    lane = tid % 32
    return cuda.shfl_sync(cuda.activemask(), v, lane - lane % group + src)


@cuda.jit(device=True)
def _group_broadcast_shared(v, src, red, tid, group):
    """The simulator's twin of :func:`_group_broadcast_shuffle`."""
    cuda.syncthreads()
    red[tid] = v
    cuda.syncthreads()
    return red[tid - tid % group + src]


# The kernels call these names; which twin they are is fixed when this module is
# imported. On a GPU the groups talk through shuffles; the simulator runs the
# shared-memory twins (every caller keeps its loops uniform across the block, so both
# are valid).
_group_sum = _group_sum_shared if SIMULATOR else _group_sum_shuffle
_group_broadcast = _group_broadcast_shared if SIMULATOR else _group_broadcast_shuffle


@cuda.jit(device=True)
def _binary_dz_loss(z, yi, weight):
    """(weight * (sigmoid(z) - y), log(1 + exp(z)) - y z) in the stable forms."""
    t = math.exp(-abs(z))
    if z >= 0:
        a = 1.0 / (1.0 + t)
    else:
        a = t / (1.0 + t)
    return weight * (a - yi), max(z, 0.0) + math.log1p(t) - yi * z


@cuda.jit(device=True)
def _block_sum_to(out, index, v, red, tid, n_threads):
    """out[index] += sum of v over the block (one atomic add). All threads call it."""
    cuda.syncthreads()
    red[tid] = v
    cuda.syncthreads()
    if tid == 0:
        total = 0.0
        for t in range(n_threads):
            total += red[t]
        cuda.atomic.add(out, index, total)


# Features of one row that one lane handles in the dense row kernel (its share of w
# and of the gradient stay in registers): rows of up to _ROW_REGS * 32 features fit.
_ROW_REGS = 8
# Most rows a group takes per pass. The loops over a batch are unrolled (a constant
# trip count), so all of a batch's loads can be in flight at once.
_MAX_BATCH = 8


@cuda.jit
def _rows_binary_kernel(
    X,  # IN (n_samples, n_features) float32 or float64, n_features <= _ROW_REGS * group
    y,  # IN (n_samples,) in {0, 1}
    s,  # IN (n_samples,) sample weights; read only if has_weight
    has_weight,
    params,  # IN (n_features + 1,) float64: w, then b
    group,  # lanes per row: a power of two <= 32 dividing the block size
    batch,  # rows per group and pass, <= min(group, _MAX_BATCH)
    out,  # OUT (n_features + 2,) float64, zero on entry: dw, db, J; atomic adds
):
    """One binary epoch, a batch of rows per group of lanes, no block barrier in the loop.

    Lane ``part`` of a group handles features ``part + k * group`` (``k < _ROW_REGS``)
    and keeps its slice of ``w`` and of the gradient in registers. For each pass the
    group takes ``batch`` consecutive rows:

    1. the lanes read their features of every row of the batch (coalesced: a group
       reads consecutive elements) and multiply them by ``w``; the loads do not depend
       on each other, so they are all in flight at once (a lane past the last row or
       feature reads a clamped, valid address and its product is discarded or
       multiplied by a zero weight, so no load is conditional);
    2. the group adds the partial dot products of each row (:func:`_group_sum`); lane
       ``r`` keeps ``z`` of row ``r``, and lanes ``0 .. batch - 1`` turn their ``z``
       into ``dz`` and the loss at the same time (the exp and log1p cost once per
       batch, not once per row);
    3. for each row ``dz`` is broadcast to the group (:func:`_group_broadcast`) and
       every lane adds ``dz * x`` for its features into its gradient registers,
       reading the row again: a batch is a few KiB, still in L1, so ``X`` comes from
       device memory once.

    At the end the block adds its lanes' gradients in shared memory and then into ``out``.
    """
    red = cuda.shared.array(_RED_SIZE, float64)
    acc = cuda.shared.array(_ACC_SIZE, float64)
    wl = cuda.local.array(_ROW_REGS, float64)
    gl = cuda.local.array(_ROW_REGS, float64)
    zb = cuda.local.array(_MAX_BATCH, float64)

    tid = cuda.threadIdx.x
    n_threads = cuda.blockDim.x
    n_samples = X.shape[0]
    n_features = X.shape[1]
    last_row = n_samples - 1
    part = tid % group
    slot = tid // group
    rows_per_pass = (n_threads // group) * batch
    for k in range(_ROW_REGS):
        j = part + k * group
        wl[k] = params[j] if j < n_features else 0.0  # zero: clamped reads add nothing
        gl[k] = 0.0
    b = params[n_features]
    J = 0.0
    db = 0.0
    n_passes = (n_samples + rows_per_pass - 1) // rows_per_pass
    for p in range(cuda.blockIdx.x, n_passes, cuda.gridDim.x):  # uniform in the block
        row0 = p * rows_per_pass + slot * batch
        for r in range(_MAX_BATCH):
            i = min(row0 + r, last_row)
            z = 0.0
            for k in range(_ROW_REGS):
                j = min(part + k * group, n_features - 1)
                z += float(X[i, j]) * wl[k]
            zb[r] = z
        my_z = 0.0
        for r in range(_MAX_BATCH):
            if r < batch:  # uniform in the block
                z = _group_sum(zb[r], red, tid, group)
                if part == r:
                    my_z = z
        i = row0 + part
        my_dz = 0.0
        if part < batch and i < n_samples:
            weight = 1.0
            if has_weight:
                weight = float(s[i])
            my_dz, loss = _binary_dz_loss(my_z + b, float(y[i]), weight)
            J += weight * loss
            db += my_dz
        for r in range(_MAX_BATCH):
            if r < batch:  # uniform in the block
                dz = _group_broadcast(my_dz, r, red, tid, group)  # 0 past the last row
                i = min(row0 + r, last_row)
                for k in range(_ROW_REGS):
                    j = min(part + k * group, n_features - 1)
                    gl[k] += dz * float(X[i, j])

    for j in range(tid, n_features, n_threads):
        acc[j] = 0.0
    cuda.syncthreads()
    for k in range(_ROW_REGS):
        j = part + k * group
        if j < n_features:
            cuda.atomic.add(acc, j, gl[k])
    cuda.syncthreads()
    for j in range(tid, n_features, n_threads):
        cuda.atomic.add(out, j, acc[j])
    _block_sum_to(out, n_features, db, red, tid, n_threads)
    _block_sum_to(out, n_features + 1, J, red, tid, n_threads)


# --------------------------------------------------------------------------------------
# CSR
# --------------------------------------------------------------------------------------

_CSR_MAX_CLASSES = 1024  # the per-block intercept accumulator (8 KiB of shared memory)


@cuda.jit(device=True)
def _csr_partial_dot(data, indices, start, end, params, w0, part, group):
    """This lane's share of sum_k data[k] * params[w0 + indices[k]] over a row."""
    z = 0.0
    for k in range(start + part, end, group):
        z += float(data[k]) * params[w0 + indices[k]]
    return z


@cuda.jit(device=True)
def _csr_scatter(data, indices, start, end, dz, out, w0, part, group):
    """out[w0 + indices[k]] += dz * data[k] for this lane's share of a row."""
    for k in range(start + part, end, group):
        cuda.atomic.add(out, w0 + indices[k], dz * float(data[k]))


@cuda.jit
def _csr_epoch_kernel(
    data,  # IN (nnz,) float32 or float64
    indices,  # IN (nnz,) int32 or int64, column of each stored value
    indptr,  # IN (n_samples + 1,) int32 or int64
    n_features,
    y,  # IN (n_samples,): {0, 1} if binary, else class indices
    s,  # IN (n_samples,) sample weights; read only if has_weight
    has_weight,  # 1 if s holds sample weights, 0 for unit weights
    params,  # IN (n_classes * n_features + n_classes,) float64: W row-major, then B
    n_classes,  # 1 if binary
    binary,  # 1: sigmoid and log-loss; 0: softmax and cross-entropy
    group,  # lanes per row: a power of two <= 32 dividing the block size
    out,  # OUT (n_classes * n_features + n_classes + 1,) float64, zero on entry:
    #       dW row-major, then dB, then J; accumulated atomically
):
    """One fused epoch over a CSR matrix; grid (blocks,), block (threads,)."""
    red = cuda.shared.array(_RED_SIZE, float64)
    acc_b = cuda.shared.array(_CSR_MAX_CLASSES, float64)

    tid = cuda.threadIdx.x
    n_threads = cuda.blockDim.x
    part = tid % group
    slot = tid // group
    n_slots = n_threads // group
    n_samples = indptr.shape[0] - 1
    b0 = n_classes * n_features
    for c in range(tid, n_classes, n_threads):
        acc_b[c] = 0.0
    cuda.syncthreads()

    J = 0.0
    n_passes = (n_samples + n_slots - 1) // n_slots
    for p in range(cuda.blockIdx.x, n_passes, cuda.gridDim.x):  # uniform in the block
        i = p * n_slots + slot
        active = i < n_samples
        start = 0
        end = 0
        weight = 1.0
        if active:
            start = indptr[i]
            end = indptr[i + 1]
            if has_weight:
                weight = float(s[i])
        if binary:
            z = _csr_partial_dot(data, indices, start, end, params, 0, part, group)
            z = _group_sum(z, red, tid, group)
            if active:
                dz, loss = _binary_dz_loss(z + params[b0], float(y[i]), weight)
                _csr_scatter(data, indices, start, end, dz, out, 0, part, group)
                if part == 0:
                    J += weight * loss
                    cuda.atomic.add(acc_b, 0, dz)
        else:
            yi = int(y[i]) if active else -1
            zmax = -math.inf
            total = 0.0  # sum_c exp(z_c - zmax) so far
            zy = 0.0
            for c in range(n_classes):
                z = _csr_partial_dot(
                    data, indices, start, end, params, c * n_features, part, group
                )
                z = _group_sum(z, red, tid, group) + params[b0 + c]
                if c == yi:
                    zy = z
                if z > zmax:
                    total = total * math.exp(zmax - z) + 1.0
                    zmax = z
                else:
                    total += math.exp(z - zmax)
            lse = zmax + math.log(total)
            for c in range(n_classes):
                z = _csr_partial_dot(
                    data, indices, start, end, params, c * n_features, part, group
                )
                z = _group_sum(z, red, tid, group) + params[b0 + c]
                prob = math.exp(z - lse)
                if c == yi:
                    prob -= 1.0
                dz = weight * prob
                if active:
                    _csr_scatter(
                        data, indices, start, end, dz, out, c * n_features, part, group
                    )
                    if part == 0:
                        cuda.atomic.add(acc_b, c, dz)
            if active and part == 0:
                J += weight * (lse - zy)

    cuda.syncthreads()
    for c in range(tid, n_classes, n_threads):
        cuda.atomic.add(out, b0 + c, acc_b[c])
    _block_sum_to(out, b0 + n_classes, J, red, tid, n_threads)


@cuda.jit
def _csr_linear_predict_kernel(
    data,  # IN (nnz,) float32 or float64
    indices,  # IN (nnz,) int32 or int64
    indptr,  # IN (n_samples + 1,) int32 or int64
    n_features,
    params,  # IN (n_classes * n_features + n_classes,) float64: W row-major, then B
    n_classes,
    group,  # lanes per row, as in _csr_epoch_kernel
    Z,  # OUT (n_samples, n_classes), dtype of data
):
    """Z = X W^T + B for a CSR matrix; grid (blocks,), block (threads,)."""
    red = cuda.shared.array(_RED_SIZE, float64)

    tid = cuda.threadIdx.x
    n_threads = cuda.blockDim.x
    part = tid % group
    slot = tid // group
    n_slots = n_threads // group
    n_samples = indptr.shape[0] - 1
    b0 = n_classes * n_features
    n_passes = (n_samples + n_slots - 1) // n_slots
    for p in range(cuda.blockIdx.x, n_passes, cuda.gridDim.x):  # uniform in the block
        i = p * n_slots + slot
        active = i < n_samples
        start = 0
        end = 0
        if active:
            start = indptr[i]
            end = indptr[i + 1]
        for c in range(n_classes):
            z = _csr_partial_dot(
                data, indices, start, end, params, c * n_features, part, group
            )
            z = _group_sum(z, red, tid, group)
            if active and part == 0:
                Z[i, c] = z + params[b0 + c]
