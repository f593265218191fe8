"""The per-row maths of the dense binary kernel for one vector of rows, in LLVM IR.

A binary pass does one multiply-add per value of X for the scores and one for the
gradient, so it keeps up with memory only if that work overlaps the reads. It did
not: a block step from memory took as long as its dot products from memory plus the
rest of the step in cache, because nothing asked for the next rows while the maths
and the gradient ran. ``dense`` now prefetches rows ahead from both its loops
(:func:`._simd.prefetch_row`) and reads X in blocks of about 6 KB, which stay in L1
between the scores and the gradient. At 8 rows a block the per-row maths (exp,
log1p, sigmoid) became the cost: LLVM vectorises its loop 32 rows at a time, so a
block of 8 or 16 rows ran it as scalar code, 15 ns a row against 1.5 ns in vectors.

:func:`binary_maths` is that maths for ``LANES`` rows (8 float64 lanes with AVX-512,
else 4) as one vector: the polynomial exp and log1p of :mod:`._elementary`, the
same operations in the same order, so that its results are those of
:func:`._elementary._binary_rows_block` (bitwise on float64 labels in the tests).
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.core.errors import TypingError
from numba.extending import intrinsic

from ._simd import _FLAGS, _I64, LANES, _Emit

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
    poly = const(_EXP_COEFS[0])
    for c in _EXP_COEFS[1:]:
        poly = add(mul(poly, r), const(c))
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
    q = const(_ATANH_COEFS[0])
    for c in _ATANH_COEFS[1:]:
        q = add(mul(q, s2), const(c))
    two_s = mul(const(2.0), s)
    log1p = add(mul(big, const(_LN2)), add(two_s, mul(two_s, mul(s2, q))))
    loss = b.fsub(add(_vcall(b, "llvm.maxnum", z, e.zero), log1p), mul(y, z), flags=_FLAGS)
    return loss, b.fsub(sig, y, flags=_FLAGS)


def make_binary_maths(lanes):
    """:func:`binary_maths` for ``lanes`` float64 lanes (the tests build 4 and 8)."""

    @intrinsic
    def binary_maths(typingctx, z, i, y, s, has_sw, row0, dz, loss):
        """For l < LANES: ``dz[i + l] = s (sigmoid(z[i + l]) - y)`` and
        ``loss[i + l] = s (softplus(z[i + l]) - y z[i + l])``, y and s read at
        ``row0 + i + l`` (s only where has_sw, else taken as 1): the maths of
        :func:`._elementary._binary_rows_block` for one vector of rows."""
        for name, arr in (("z", z), ("dz", dz), ("loss", loss)):
            _check_1d(name, arr, (types.float64,))
        for name, arr in (("y", y), ("s", s)):
            _check_1d(name, arr, (types.float32, types.float64))
        sig = types.void(z, i, y, s, has_sw, row0, dz, loss)

        def codegen(context, builder, sig, args):
            b = builder
            e = _Emit(context, b, lanes)
            zv, iv, yv, sv, hv, r0v, dzv, lv = args
            iv = context.cast(b, iv, sig.args[1], types.intp)
            at = b.add(context.cast(b, r0v, sig.args[5], types.intp), iv)

            def ptr(k, arr):  # element 0 of the k-th argument
                return b.gep(context.make_array(sig.args[k])(context, b, arr).data, [_I64(0)])

            loss_v, dz_v = _loss_and_dz(e, e.load(ptr(0, zv), iv), e.load(ptr(2, yv), at))
            pre = b.block
            with b.if_then(hv):  # without weights s is a 1-element dummy: not read
                sw = e.load(ptr(3, sv), at)
                weighted = [b.fmul(v, sw, flags=_FLAGS) for v in (loss_v, dz_v)]
                then = b.block
            merged = []
            for plain, w in zip((loss_v, dz_v), weighted):
                merged.append(b.phi(e.vec))
                merged[-1].add_incoming(plain, pre)
                merged[-1].add_incoming(w, then)
            for k, arr, v in ((7, lv, merged[0]), (6, dzv, merged[1])):
                b.store(v, b.bitcast(b.gep(ptr(k, arr), [iv]), e.vec.as_pointer()), align=8)
            return context.get_dummy_value()

        return sig, codegen

    return binary_maths


binary_maths = make_binary_maths(LANES)
