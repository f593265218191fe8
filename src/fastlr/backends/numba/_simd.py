"""Register-blocked building blocks of the dense multinomial kernels, in LLVM IR.

The multinomial pass is two small matrix products per block of rows:
``Z_blk = X_blk W^T`` (scores) and ``dW += D_blk^T X_blk`` (gradient). Written as
Numba loops, LLVM vectorises each dot product or each row update on its own, and a
row of 100 features is too short for that to pay: every dot product ends in a
horizontal sum of its vector accumulators, every gradient update loads and stores
its row of ``dW`` again, and the last ``p % 8`` columns run as scalar code. Numba has
no way to say "keep these vectors in registers", so the two tiles below are
intrinsics that emit the vector code themselves (``numba.extending.intrinsic``):

- :func:`dot_tile` returns the 8 dot products of 4 rows of X with 2 rows of W:
  8 vector accumulators (6 loads per 8 multiply-adds), the columns left over after
  the last full vector taken as one vector over the last ``LANES`` columns with the
  columns already counted masked off, and the 8 sums formed together by a
  transpose-and-add tree (three levels of shuffles for all 8 instead of one
  reduction per sum);
- :func:`grad_group_4` (and ``_2``, ``_1``) adds ``D[:, k:k+C]^T X_blk`` to rows
  ``k .. k+C-1`` of ``dW``, the accumulators of a strip of ``2 LANES`` columns of
  those rows held in registers over all the block's rows, so that ``dW`` is read
  and written once per block instead of once per four rows.

Both can prefetch the same columns of the rows one block on (the next block's):
``dense_multinomial._multinomial_scores`` asks it of the first class pair, and
``dense_multinomial._multinomial_accumulate`` uses the prefetching variant for its
first class group. 500,000 x 100, 10 classes, 2 threads, AMD EPYC, float64: a pass took
23.2-25.3 ms without prefetch, 23.5-24.8 ms with the gradient's alone, 24.1-25.3 ms
with the scores' alone, 21.1-22.6 ms with both; float32 23.8-23.9 ms without,
16.2-17.7 ms with either or both.

``LANES`` is the vector width in float64 lanes: 8 where the CPU has AVX-512 (32
vector registers), else 4 (16 registers on AVX2). LLVM splits wider vectors into
what the target has, so the code is correct on any CPU; the width only decides
whether the accumulators fit in registers. Multiplications and additions carry the
kernels' fastmath flags (``contract``: fused where the CPU has FMA). X may be
float32 (widened to float64 lane by lane) or float64, C-contiguous, with at least
``LANES`` columns; W, D and dW are float64.
"""

from __future__ import annotations

import llvmlite.binding as ll
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.core.errors import TypingError
from numba.extending import intrinsic

from ._elementary import FASTMATH

LANES = 8 if ll.get_host_cpu_features().get("avx512f", False) else 4

_FLAGS = tuple(sorted(FASTMATH))
PREFETCH_LOCALITY = 3
_I64 = ir.IntType(64)
_I32 = ir.IntType(32)
_F64 = ir.DoubleType()


def _check_c_2d(name, arr, dtypes):
    if not (isinstance(arr, types.Array) and arr.ndim == 2 and arr.layout == "C"
            and arr.dtype in dtypes):
        raise TypingError(f"{name} must be a C-contiguous 2-d array of {dtypes}, "
                          f"got {arr}")


class _Emit:
    """IR helpers bound to one builder and vector width."""

    def __init__(self, context, builder, lanes):
        self.ctx = context
        self.b = builder
        self.L = lanes
        self.vec = ir.VectorType(_F64, lanes)
        self.zero = ir.Constant(self.vec, [0.0] * lanes)

    def row_ptr(self, arrty, arr, row):
        """Pointer to element 0 of ``arr[row]`` (C-contiguous 2-d)."""
        b = self.b
        a = self.ctx.make_array(arrty)(self.ctx, b, arr)
        stride0 = cgutils.unpack_tuple(b, a.strides, 2)[0]
        base = b.bitcast(a.data, ir.IntType(8).as_pointer())
        elem = self.ctx.get_data_type(arrty.dtype)
        return b.bitcast(b.gep(base, [b.mul(row, stride0)]), elem.as_pointer())

    def load(self, ptr, idx):
        """LANES consecutive elements from ``ptr + idx`` as float64."""
        b = self.b
        elem = ptr.type.pointee
        vty = ir.VectorType(elem, self.L)
        v = b.load(b.bitcast(b.gep(ptr, [idx]), vty.as_pointer()),
                   align=8 if elem == _F64 else 4)
        return v if elem == _F64 else b.fpext(v, self.vec)

    def store(self, v, ptr, idx):
        """The float64 vector v to ``ptr + idx .. ptr + idx + LANES`` (float64)."""
        b = self.b
        b.store(v, b.bitcast(b.gep(ptr, [idx]), self.vec.as_pointer()), align=8)

    def prefetch(self, ptr):
        """A hint to fetch ptr's cache line (never faults, even past the array)."""
        b = self.b
        i8p = ir.IntType(8).as_pointer()
        fnty = ir.FunctionType(ir.VoidType(), [i8p, _I32, _I32, _I32])
        fn = cgutils.get_or_insert_function(b.module, fnty, "llvm.prefetch.p0")
        b.call(fn, [b.bitcast(ptr, i8p), _I32(0), _I32(PREFETCH_LOCALITY), _I32(1)])

    def splat(self, x):
        b = self.b
        vty = ir.VectorType(x.type, self.L)
        v = b.insert_element(ir.Constant(vty, ir.Undefined), x, _I64(0))
        return b.shuffle_vector(v, ir.Constant(vty, ir.Undefined),
                                ir.Constant(ir.VectorType(_I32, self.L), [0] * self.L))

    def fma(self, acc, x, y):
        b = self.b
        return b.fadd(acc, b.fmul(x, y, flags=_FLAGS), flags=_FLAGS)

    def tail_mask(self, tail):
        """Lanes ``>= LANES - tail``: the ``tail`` last columns of the last vector."""
        lanes = ir.Constant(ir.VectorType(_I64, self.L), list(range(self.L)))
        return self.b.icmp_signed(">=", lanes, self.splat(self.b.sub(_I64(self.L), tail)))

    def loop(self, n, init, body, name):
        """``state = init; for i in range(n): state = body(i, state)`` in IR, the
        state a list of values carried in registers; returns the final state."""
        b = self.b
        pre = b.block
        head = b.append_basic_block(name + ".head")
        blk = b.append_basic_block(name + ".body")
        after = b.append_basic_block(name + ".after")
        b.branch(head)
        b.position_at_end(head)
        i = b.phi(_I64)
        i.add_incoming(_I64(0), pre)
        phis = [b.phi(v.type) for v in init]
        for ph, v in zip(phis, init):
            ph.add_incoming(v, pre)
        b.cbranch(b.icmp_signed("<", i, n), blk, after)
        b.position_at_end(blk)
        new = body(i, phis)
        end = b.block
        for ph, v in zip(phis, new):
            ph.add_incoming(v, end)
        i.add_incoming(b.add(i, _I64(1)), end)
        b.branch(head)
        b.position_at_end(after)
        return phis

    def transpose_sum(self, accs):
        """The sums of ``len(accs)`` (8) vectors, in order, as ``8 / LANES`` vectors
        of LANES sums: pairs of vectors are interleaved and added, at widths 1, 2,
        4 ... lanes, so all the sums share the shuffles."""
        b = self.b
        L = self.L
        cur = list(accs)
        width = 1
        while width < L:
            nxt = []
            for t in range(0, len(cur), 2):
                lo, hi = [], []
                for blk in range(0, L, 2 * width):
                    lo += [blk + i for i in range(width)] + [L + blk + i for i in range(width)]
                    hi += ([blk + width + i for i in range(width)]
                           + [L + blk + width + i for i in range(width)])
                idx = [ir.Constant(ir.VectorType(_I32, L), m) for m in (lo, hi)]
                a, c = cur[t], cur[t + 1]
                nxt.append(b.fadd(b.shuffle_vector(a, c, idx[0]),
                                  b.shuffle_vector(a, c, idx[1]), flags=_FLAGS))
            cur = nxt
            width *= 2
        return cur


def _make_dot_tile(lanes):
    @intrinsic
    def dot_tile(typingctx, X, r, W, k, ahead):
        """(X[r + q] . W[k + c] for q < 4 for c < 2) as an 8-tuple of float64,
        ordered q-major. Needs ``X.shape[1] == W.shape[1] >= LANES``."""
        _check_c_2d("X", X, (types.float32, types.float64))
        _check_c_2d("W", W, (types.float64,))
        sig = types.UniTuple(types.float64, 8)(X, r, W, k, ahead)

        def codegen(context, builder, sig, args):
            e = _Emit(context, builder, lanes)
            Xv, rv, Wv, kv, av = args
            rv = context.cast(builder, rv, sig.args[1], types.intp)
            kv = context.cast(builder, kv, sig.args[3], types.intp)
            av = context.cast(builder, av, sig.args[4], types.intp)
            do_pf = builder.icmp_signed("!=", av, _I64(0))
            pfs = [e.row_ptr(sig.args[0], Xv, builder.add(builder.add(rv, av), _I64(q)))
                   for q in range(4)]
            xs = [e.row_ptr(sig.args[0], Xv, builder.add(rv, _I64(q))) for q in range(4)]
            ws = [e.row_ptr(sig.args[2], Wv, builder.add(kv, _I64(c))) for c in range(2)]
            wa = context.make_array(sig.args[2])(context, builder, Wv)
            p = cgutils.unpack_tuple(builder, wa.shape, 2)[1]
            n_full = builder.sdiv(p, _I64(lanes))

            def step(i, accs):
                j = builder.mul(i, _I64(lanes))
                xl = [e.load(x, j) for x in xs]
                wl = [e.load(w, j) for w in ws]
                with builder.if_then(do_pf):
                    for pf in pfs:
                        e.prefetch(builder.gep(pf, [j]))
                return [e.fma(accs[2 * q + c], xl[q], wl[c]) for q in range(4) for c in range(2)]

            accs = e.loop(n_full, [e.zero] * 8, step, "dot")
            # the columns after the last full vector: the last LANES columns, those
            # already counted masked off (p >= LANES, so all loads are in bounds)
            tail = builder.sub(p, builder.mul(n_full, _I64(lanes)))
            mask = e.tail_mask(tail)
            start = builder.sub(p, _I64(lanes))
            xl = [e.load(x, start) for x in xs]
            wl = [e.load(w, start) for w in ws]
            accs = [builder.fadd(accs[2 * q + c],
                                 builder.select(mask, builder.fmul(xl[q], wl[c], flags=_FLAGS),
                                                e.zero), flags=_FLAGS)
                    for q in range(4) for c in range(2)]
            sums = e.transpose_sum(accs)
            outs = [builder.extract_element(v, _I64(i)) for v in sums for i in range(lanes)]
            return context.make_tuple(builder, sig.return_type, outs)

        return sig, codegen

    return dot_tile


def _make_grad_group(n_rows_of_w, lanes, prefetch=False):
    C = n_rows_of_w

    @intrinsic
    def grad_group(typingctx, X, r0, n, D, K, k, dW):
        """dW[k + c] += sum_{r < n} D[r K + k + c] X[r0 + r] for c < C. Needs
        ``X.shape[1] == dW.shape[1] >= LANES``."""
        _check_c_2d("X", X, (types.float32, types.float64))
        _check_c_2d("dW", dW, (types.float64,))
        if not (isinstance(D, types.Array) and D.ndim == 1 and D.dtype == types.float64):
            raise TypingError(f"D must be a 1-d float64 array, got {D}")
        sig = types.void(X, r0, n, D, K, k, dW)

        def codegen(context, builder, sig, args):
            e = _Emit(context, builder, lanes)
            Xv, r0v, nv, Dv, Kv, kv, dWv = args
            r0v, nv, Kv, kv = [context.cast(builder, v, t, types.intp) for v, t in
                               zip((r0v, nv, Kv, kv), sig.args[1:3] + sig.args[4:6])]
            da = context.make_array(sig.args[3])(context, builder, Dv)
            d_stride = cgutils.unpack_tuple(builder, da.strides, 1)[0]
            d_base = builder.bitcast(da.data, ir.IntType(8).as_pointer())
            wa = context.make_array(sig.args[6])(context, builder, dWv)
            p = cgutils.unpack_tuple(builder, wa.shape, 2)[1]
            wrows = [e.row_ptr(sig.args[6], dWv, builder.add(kv, _I64(c))) for c in range(C)]

            def strip(j, V, mask):
                """Columns j .. j + V LANES of the C rows of dW, over all n rows."""
                init = [e.load(wrows[c], builder.add(j, _I64(v * lanes)))
                        for c in range(C) for v in range(V)]

                def step(r, accs):
                    xrow = e.row_ptr(sig.args[0], Xv, builder.add(r0v, r))
                    xl = [e.load(xrow, builder.add(j, _I64(v * lanes))) for v in range(V)]
                    if prefetch:  # the same columns of the row n rows on
                        ahead = e.row_ptr(sig.args[0], Xv, builder.add(builder.add(r0v, r), nv))
                        for v in range(V):
                            e.prefetch(builder.gep(ahead, [builder.add(j, _I64(v * lanes))]))
                    if mask is not None:
                        xl = [builder.select(mask, x, e.zero) for x in xl]
                    out = []
                    for c in range(C):
                        at = builder.mul(builder.add(builder.mul(r, Kv), builder.add(kv, _I64(c))),
                                         d_stride)
                        dp = builder.bitcast(builder.gep(d_base, [at]), _F64.as_pointer())
                        dc = e.splat(builder.load(dp, align=8))
                        out += [e.fma(accs[c * V + v], dc, xl[v]) for v in range(V)]
                    return out

                accs = e.loop(nv, init, step, "grad")
                for c in range(C):
                    for v in range(V):
                        e.store(accs[c * V + v], wrows[c], builder.add(j, _I64(v * lanes)))

            n2 = builder.sdiv(p, _I64(2 * lanes))
            e.loop(n2, [], lambda t, _: strip(builder.mul(t, _I64(2 * lanes)), 2, None) or [],
                   "strips")
            done = builder.mul(n2, _I64(2 * lanes))
            one_more = builder.icmp_signed(">=", builder.sub(p, done), _I64(lanes))
            with builder.if_then(one_more):
                strip(done, 1, None)
            done = builder.add(done, builder.select(one_more, _I64(lanes), _I64(0)))
            tail = builder.sub(p, done)
            with builder.if_then(builder.icmp_signed(">", tail, _I64(0))):
                # the last LANES columns, those already updated masked off (their
                # products are zero, so their entries of dW are stored unchanged)
                strip(builder.sub(p, _I64(lanes)), 1, e.tail_mask(tail))
            return context.get_dummy_value()

        return sig, codegen

    return grad_group


def _no_unroll(module):
    """Loop metadata asking LLVM not to unroll: each unrolled copy of a prefetch loop
    cost the kernels' compilation, and the loop is a few lines long."""
    off = module.add_metadata([ir.MetaDataString(module, "llvm.loop.unroll.disable")])
    loop_id = module.add_metadata([ir.MetaDataString(module, f"fastlr.loop.{id(off)}"), off])
    loop_id.operands = (loop_id, off)  # a loop ID refers to itself
    return loop_id


@intrinsic
def prefetch_rows(typingctx, X, r, n):
    """A hint to fetch every cache line of the rows ``r .. r + n`` of X (contiguous:
    one pass over their bytes). Any r: a prefetch never faults, so rows past the
    end cost nothing but the hints."""
    _check_c_2d("X", X, (types.float32, types.float64))
    sig = types.void(X, r, n)

    def codegen(context, builder, sig, args):
        b = builder
        Xv, rv, nv = args
        rv = context.cast(b, rv, sig.args[1], types.intp)
        nv = context.cast(b, nv, sig.args[2], types.intp)
        e = _Emit(context, b, 1)
        a = context.make_array(sig.args[0])(context, b, Xv)
        row_bytes = cgutils.unpack_tuple(b, a.strides, 2)[0]
        base = b.gep(b.bitcast(a.data, ir.IntType(8).as_pointer()), [b.mul(rv, row_bytes)])
        nbytes = b.mul(nv, row_bytes)
        pre = b.block
        head, body, after = [b.append_basic_block(f"pfrows.{k}") for k in ("head", "body",
                                                                             "after")]
        b.branch(head)
        b.position_at_end(head)
        off = b.phi(_I64)
        off.add_incoming(_I64(0), pre)
        b.cbranch(b.icmp_signed("<", off, nbytes), body, after)
        b.position_at_end(body)
        e.prefetch(b.gep(base, [off]))
        off.add_incoming(b.add(off, _I64(64)), body)
        b.branch(head).set_metadata("llvm.loop", _no_unroll(b.module))
        b.position_at_end(after)
        # the last byte: the last line, when the rows do not start on one
        e.prefetch(b.gep(base, [b.sub(nbytes, _I64(1))]))
        return context.get_dummy_value()

    return sig, codegen


def make_tiles(lanes):
    """The tiles for a vector width of ``lanes`` float64 (the tests build both)."""
    return (_make_dot_tile(lanes),
            tuple(_make_grad_group(c, lanes) for c in (4, 2, 1)),
            tuple(_make_grad_group(c, lanes, prefetch=True) for c in (4, 2, 1)))


dot_tile, (grad_group_4, grad_group_2, grad_group_1), \
    (grad_group_4p, grad_group_2p, grad_group_1p) = make_tiles(LANES)

