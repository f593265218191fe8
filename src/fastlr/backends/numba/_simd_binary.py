"""The dense binary kernel's per-row maths, and its whole step for float32, in LLVM IR.

A binary pass does one multiply-add per value of X for the scores and one for the
gradient, so it keeps up with memory only if that work overlaps the reads. It did
not: a block step from memory took as long as its dot products from memory plus the
rest of the step in cache, because nothing asked for the next rows while the maths
and the gradient ran. ``dense`` now prefetches rows ahead from both its loops
(:func:`._simd.prefetch_rows`) and reads X in blocks of about 6 KB, which stay in L1
between the scores and the gradient. At 8 rows a block the per-row maths (exp,
log1p, sigmoid) became the cost: LLVM vectorises its loop 32 rows at a time, so a
block of 8 or 16 rows ran it as scalar code, 15 ns a row against 1.5 ns in vectors.

- :func:`binary_maths` is that maths for up to ``LANES`` rows (8 float64 lanes with
  AVX-512, else 4) as one vector, lanes past the block's end masked: the polynomial
  exp and log1p of :mod:`._elementary`, the same range reductions and polynomials,
  so that its results are those of :func:`._elementary._binary_rows_block` to a
  rounding or two. The polynomials are evaluated by Estrin's scheme (:func:`_estrin`)
  rather than Horner's rule: among the scores and the gradient, the maths' chain of
  dependent operations, not its operation count, was its cost (4.5-7 ns a row
  there against 1.9 ns timed alone, one thread); 4 dependent multiply-adds per
  polynomial instead of 13 and 10 made a pass of 1,000,000 x 100 on one thread
  4-5% faster (float64 and float32), with the same accuracy against long-double
  references (1e6 scores: dz within 0.79 eps absolute, against 0.75; the loss
  within 1.32 eps (|z| + 1), against 1.15).
- :func:`binary_step` is the whole step for ``2 LANES`` rows: their scores in
  ``2 LANES`` vector accumulators summed by transpose-and-add trees, the maths as
  two vectors, then ``dw += dz^T X_blk`` with the rows still in L1, the rows one
  step ahead prefetched in memory order from both loops. ``dense`` uses it for
  float32 X, where the Numba loops' widening of each value cost more than the
  reads (6.5 ms a pass of 1,000,000 x 100 against 10-11 ms); for float64 it was
  slower than the loops from memory.
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.core.errors import TypingError
from numba.extending import intrinsic

from ._simd import _FLAGS, _I32, _I64, LANES, _check_c_2d, _Emit

_LN2 = 0.6931471805599453
# exp(r) for |r| <= ln2 / 2: Taylor coefficients, highest first (see
# _elementary._exp_nonpos_block); atanh series 1/23 .. 1/3 (_elementary._log1p_unit)
_EXP_COEFS = [1.0 / 6227020800.0, 1.0 / 479001600.0, 1.0 / 39916800.0, 1.0 / 3628800.0,
              1.0 / 362880.0, 1.0 / 40320.0, 1.0 / 5040.0, 1.0 / 720.0, 1.0 / 120.0,
              1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0]
_ATANH_COEFS = [1.0 / c for c in (23.0, 21.0, 19.0, 17.0, 15.0, 13.0, 11.0, 9.0, 7.0,
                                  5.0, 3.0)]


def _check_1d(name, arr, dtypes):
    if not (isinstance(arr, types.Array) and arr.ndim == 1 and arr.layout == "C"
            and arr.dtype in dtypes):
        raise TypingError(f"{name} must be a C-contiguous 1-d array of {dtypes}, got {arr}")


def _vcall(builder, name, *args):
    """The LLVM intrinsic ``name`` (``llvm.floor`` ...) on float64 vectors."""
    ty = args[0].type
    fnty = ir.FunctionType(ty, [a.type for a in args])
    fn = cgutils.get_or_insert_function(builder.module, fnty, f"{name}.v{ty.count}f64")
    return builder.call(fn, list(args))


def _estrin(add, mul, x, coefs):
    """The polynomial with coefficients ``coefs`` (highest degree first, vectors) at
    x, by Estrin's scheme: pairs ``c_i + c_(i+1) x`` combined with x**2, their pairs
    with x**4, and so on. Degree 13 takes 4 dependent multiply-adds (and the powers,
    alongside) where Horner's rule takes 13."""
    cs = list(reversed(coefs))  # lowest degree first
    xp = x
    while len(cs) > 1:
        pairs = [add(cs[i], mul(cs[i + 1], xp)) for i in range(0, len(cs) - 1, 2)]
        cs = pairs + cs[len(cs) - len(cs) % 2:]
        if len(cs) > 1:
            xp = mul(xp, xp)
    return cs[0]


def _loss_and_dz(e, z, y):
    """(loss, dz) of a vector of scores z and labels y: ``softplus(z) - y z`` and
    ``sigmoid(z) - y``, with the polynomials of :mod:`._elementary`."""
    b = e.b

    def const(x):
        return ir.Constant(e.vec, [float(x)] * e.L)

    def mul(x, y):
        return b.fmul(x, y, flags=_FLAGS)

    def add(x, y):
        return b.fadd(x, y, flags=_FLAGS)

    # t = exp(-|z|) = 2**k exp(r), -|z| = k ln2 + r
    x = _vcall(b, "llvm.maxnum", b.fneg(_vcall(b, "llvm.fabs", z)), const(-700.0))
    k = _vcall(b, "llvm.floor", add(mul(x, const(1.4426950408889634)), const(0.5)))
    r = b.fsub(x, mul(k, const(_LN2)), flags=_FLAGS)
    poly = _estrin(add, mul, r, [const(c) for c in _EXP_COEFS])
    ivec = ir.VectorType(_I64, e.L)
    bits = b.shl(b.add(b.fptosi(k, ivec), ir.Constant(ivec, [1023] * e.L)),
                 ir.Constant(ivec, [52] * e.L))
    t = mul(poly, b.bitcast(bits, e.vec))
    # sigmoid(z): 1 / (1 + t) for z >= 0, t / (1 + t) below
    u = add(const(1.0), t)
    sig = b.select(b.fcmp_ordered(">=", z, e.zero), b.fdiv(const(1.0), u, flags=_FLAGS),
                   b.fdiv(t, u, flags=_FLAGS))
    # log1p(t), t in (0, 1]: 2 atanh(s), plus ln 2 above sqrt(2) - 1
    big = b.select(b.fcmp_ordered(">", t, const(0.41421356237309503)), const(1.0), e.zero)
    s = b.fdiv(b.fsub(t, big, flags=_FLAGS), add(add(const(2.0), t), big), flags=_FLAGS)
    s2 = mul(s, s)
    q = _estrin(add, mul, s2, [const(c) for c in _ATANH_COEFS])
    two_s = mul(const(2.0), s)
    log1p = add(mul(big, const(_LN2)), add(two_s, mul(two_s, mul(s2, q))))
    loss = b.fsub(add(_vcall(b, "llvm.maxnum", z, e.zero), log1p), mul(y, z), flags=_FLAGS)
    return loss, b.fsub(sig, y, flags=_FLAGS)


def _weighted(e, has_sw, load_weights, *vecs):
    """``vecs`` times the weights where has_sw (``load_weights()`` emits their load:
    without weights s is a 1-element dummy, never read), else as they are."""
    b = e.b
    pre = b.block
    with b.if_then(has_sw):
        sw = load_weights()
        weighted = [b.fmul(v, sw, flags=_FLAGS) for v in vecs]
        then = b.block
    out = [b.phi(e.vec) for _ in vecs]
    for ph, plain, w in zip(out, vecs, weighted):
        ph.add_incoming(plain, pre)
        ph.add_incoming(w, then)
    return out


def _masked(e, ptr, idx, mask, value=None):
    """``llvm.masked.load`` (value None) or ``.store`` of the lanes of ``ptr + idx``
    where mask is set; loads are widened to float64, stores are float64."""
    b = e.b
    elem = ptr.type.pointee
    vty = ir.VectorType(elem, e.L)
    vptr = b.bitcast(b.gep(ptr, [idx]), vty.as_pointer())
    suffix = f"v{e.L}{'f64' if elem == ir.DoubleType() else 'f32'}.p0"
    align = _I32(8 if elem == ir.DoubleType() else 4)
    if value is None:
        fnty = ir.FunctionType(vty, [vptr.type, _I32, mask.type, vty])
        fn = cgutils.get_or_insert_function(b.module, fnty, f"llvm.masked.load.{suffix}")
        v = b.call(fn, [vptr, align, mask, ir.Constant(vty, [0.0] * e.L)])
        return v if elem == ir.DoubleType() else b.fpext(v, e.vec)
    fnty = ir.FunctionType(ir.VoidType(), [vty, vptr.type, _I32, mask.type])
    fn = cgutils.get_or_insert_function(b.module, fnty, f"llvm.masked.store.{suffix}")
    b.call(fn, [value, vptr, align, mask])


def _load_lanes(e, ptr, idx, mask, full):
    """The lanes of ``ptr + idx`` as float64: one plain vector load where ``full``
    (all lanes in bounds), else :func:`_masked`. A masked load whose line is not in
    cache is slow on the AMD EPYC measured: the labels, one line per 8 rows of the
    stream, loaded masked made a pass of 1,000,000 x 100 float64 about 13% slower
    (one thread, 29.1-29.4 against 25.0-25.5 ns a row), even with the mask all set."""
    b = e.b
    with b.if_else(full) as (then, otherwise):
        with then:
            plain = e.load(ptr, idx)
            plain_bb = b.block
        with otherwise:
            masked = _masked(e, ptr, idx, mask)
            masked_bb = b.block
    out = b.phi(e.vec)
    out.add_incoming(plain, plain_bb)
    out.add_incoming(masked, masked_bb)
    return out


def make_binary_maths(lanes):
    """:func:`binary_maths` for ``lanes`` float64 lanes (the tests build 4 and 8)."""

    @intrinsic
    def binary_maths(typingctx, z, i, n, y, s, has_sw, row0, dz, loss):
        """For the rows ``i .. min(i + LANES, n)`` of a block, l among them:
        ``dz[l] = s (sigmoid(z[l]) - y)`` and ``loss[l] = s (softplus(z[l]) - y z[l])``,
        y and s read at ``row0 + l`` (s only where has_sw, else taken as 1): the maths
        of :func:`._elementary._binary_rows_block` for one vector of rows. Lanes past
        n are neither read nor written (masked loads and stores; y and s are read
        with plain loads where all lanes are in bounds)."""
        for name, arr in (("z", z), ("dz", dz), ("loss", loss)):
            _check_1d(name, arr, (types.float64,))
        for name, arr in (("y", y), ("s", s)):
            _check_1d(name, arr, (types.float32, types.float64))
        sig = types.void(z, i, n, y, s, has_sw, row0, dz, loss)

        def codegen(context, builder, sig, args):
            b = builder
            e = _Emit(context, b, lanes)
            zv, iv, nv, yv, sv, hv, r0v, dzv, lv = args
            iv, nv, r0v = [context.cast(b, v, sig.args[k], types.intp)
                           for v, k in ((iv, 1), (nv, 2), (r0v, 6))]
            at = b.add(r0v, iv)
            left = b.sub(nv, iv)  # rows of the block from i on
            lane = ir.Constant(ir.VectorType(_I64, lanes), list(range(lanes)))
            mask = b.icmp_signed("<", lane, e.splat(left))

            def ptr(k, arr):  # element 0 of the k-th argument
                return b.gep(context.make_array(sig.args[k])(context, b, arr).data, [_I64(0)])

            full = b.icmp_signed(">=", left, _I64(lanes))
            loss_v, dz_v = _loss_and_dz(e, _masked(e, ptr(0, zv), iv, mask),
                                        _load_lanes(e, ptr(3, yv), at, mask, full))
            loss_v, dz_v = _weighted(e, hv,
                                     lambda: _load_lanes(e, ptr(4, sv), at, mask, full),
                                     loss_v, dz_v)
            _masked(e, ptr(8, lv), iv, mask, loss_v)
            _masked(e, ptr(7, dzv), iv, mask, dz_v)
            return context.get_dummy_value()

        return sig, codegen

    return binary_maths


def make_binary_step(lanes):
    """:func:`binary_step` for ``lanes`` float64 lanes (the tests build 4 and 8)."""
    R = 2 * lanes  # rows per step: two vectors of scores

    @intrinsic
    def binary_step(typingctx, X, r, w, bias, y, s, has_sw, ahead, dw, dz, loss, i):
        """The rows ``r .. r + 2 LANES`` of X: ``z = X_blk w + bias``, then ``dz[i + l]``
        and ``loss[i + l]`` as :func:`binary_maths`, then ``dw += dz^T X_blk``
        (rows added in order), prefetching the same number of rows ``ahead`` rows on
        (none if ahead is 0). Needs ``X.shape[1] == w.shape[0] == dw.shape[0] >=
        LANES``."""
        _check_c_2d("X", X, (types.float32, types.float64))
        for name, arr in (("w", w), ("dw", dw), ("dz", dz), ("loss", loss)):
            _check_1d(name, arr, (types.float64,))
        for name, arr in (("y", y), ("s", s)):
            _check_1d(name, arr, (types.float32, types.float64))
        sig = types.void(X, r, w, bias, y, s, has_sw, ahead, dw, dz, loss, i)

        def codegen(context, builder, sig, args):
            b = builder
            e = _Emit(context, b, lanes)
            Xv, rv, wv, biasv, yv, sv, hv, av, dwv, dzv, lv, iv = args
            rv, av, iv = [context.cast(b, v, sig.args[k], types.intp)
                          for v, k in ((rv, 1), (av, 7), (iv, 11))]
            biasv = context.cast(b, biasv, sig.args[3], types.float64)

            def ptr(k, arr):  # element 0 of the k-th argument (1-d)
                return b.gep(context.make_array(sig.args[k])(context, b, arr).data, [_I64(0)])

            xa = context.make_array(sig.args[0])(context, b, Xv)
            p = cgutils.unpack_tuple(b, xa.shape, 2)[1]
            row_bytes = cgutils.unpack_tuple(b, xa.strides, 2)[0]
            xs = [e.row_ptr(sig.args[0], Xv, b.add(rv, _I64(q))) for q in range(R)]
            wp, dwp = ptr(2, wv), ptr(8, dwv)
            n_full = b.sdiv(p, _I64(lanes))
            # the R rows ahead are contiguous: R row_bytes / 64 cache lines, issued in
            # memory order, per_step of them at each of the 2 n_full steps below
            ahead_base = b.bitcast(e.row_ptr(sig.args[0], Xv, b.add(rv, av)),
                                   ir.IntType(8).as_pointer())
            do_pf = b.icmp_signed("!=", av, _I64(0))
            lines = b.sdiv(b.mul(row_bytes, _I64(R)), _I64(64))
            per_step = b.add(b.sdiv(lines, b.mul(n_full, _I64(2))), _I64(1))

            def prefetch_ahead(step):
                with b.if_then(do_pf):
                    first = b.mul(step, per_step)

                    def one(k, _):
                        e.prefetch(b.gep(ahead_base, [b.mul(b.add(first, k), _I64(64))]))
                        return []

                    e.loop(per_step, [], one, "pf")

            def dot_step(j_vec, accs):
                j = b.mul(j_vec, _I64(lanes))
                wl = e.load(wp, j)
                prefetch_ahead(j_vec)
                return [e.fma(accs[q], e.load(xs[q], j), wl) for q in range(R)]

            accs = e.loop(n_full, [e.zero] * R, dot_step, "bdot")
            # the columns after the last full vector: the last LANES columns, those
            # already counted masked off
            tail = b.sub(p, b.mul(n_full, _I64(lanes)))
            mask = e.tail_mask(tail)
            start = b.sub(p, _I64(lanes))
            wl = e.load(wp, start)
            accs = [b.fadd(a, b.select(mask, b.fmul(e.load(x, start), wl, flags=_FLAGS),
                                       e.zero), flags=_FLAGS) for a, x in zip(accs, xs)]
            dzs = []
            for g in range(2):
                z = b.fadd(e.transpose_sum(accs[g * lanes:(g + 1) * lanes])[0],
                           e.splat(biasv), flags=_FLAGS)
                at = b.add(rv, _I64(g * lanes))
                loss_v, dz_v = _loss_and_dz(e, z, e.load(ptr(4, yv), at))
                loss_v, dz_v = _weighted(e, hv, lambda at=at: e.load(ptr(5, sv), at),
                                         loss_v, dz_v)
                ig = b.add(iv, _I64(g * lanes))
                for k, arr, v in ((10, lv, loss_v), (9, dzv, dz_v)):
                    e.store(v, ptr(k, arr), ig)
                dzs += [e.splat(b.extract_element(dz_v, _I64(q))) for q in range(lanes)]

            def grad_at(j, xmask):
                acc = e.load(dwp, j)
                for q in range(R):
                    x = e.load(xs[q], j)
                    if xmask is not None:
                        x = b.select(xmask, x, e.zero)
                    acc = e.fma(acc, dzs[q], x)
                e.store(acc, dwp, j)

            def grad_step(j_vec, _):
                prefetch_ahead(b.add(j_vec, n_full))
                grad_at(b.mul(j_vec, _I64(lanes)), None)
                return []

            e.loop(n_full, [], grad_step, "bgrad")
            with b.if_then(b.icmp_signed(">", tail, _I64(0))):
                # masked columns: products of zero, their entries of dw stored unchanged
                grad_at(start, mask)
            return context.get_dummy_value()

        return sig, codegen

    return binary_step


binary_maths = make_binary_maths(LANES)
binary_step = make_binary_step(LANES)
