"""An AVX-512 VNNI int8 dot-product block, emitted as LLVM IR inside numba.

LLVM does not turn a plain ``acc += int(a) * int(b)`` loop into ``vpdpbusd``; it emits
sign extensions and ``vpmaddwd`` plus one horizontal sum per gallery vector, which is
compute-bound for a batch of queries.  The gallery is therefore stored interleaved —
``[block][d/4][16 vectors][4 bytes]`` — so that one 64-byte load holds four dimensions of
sixteen vectors, and one ``vpdpbusd`` against a broadcast group of four query bytes adds
sixty-four products into sixteen per-vector sums: no horizontal sum at all.

Only call the functions made here when :data:`AVAILABLE` is true; on other CPUs LLVM
cannot select the instruction.  :mod:`gate_face.kernels` has a portable twin.
"""

from __future__ import annotations

import os
from typing import Any

import llvmlite.binding as llb
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

_I32 = ir.IntType(32)
_I32X16 = ir.VectorType(_I32, 16)
_F32X16 = ir.VectorType(ir.FloatType(), 16)


def _host_has_vnni() -> bool:
    if os.environ.get("GATECORE_FACE_KERNEL", "") == "portable":
        return False
    features = llb.get_host_cpu_features()
    return all(features.get(name, False) for name in ("avx512f", "avx512bw", "avx512vnni"))


AVAILABLE = _host_has_vnni()


def make_block_kernel(nq: int) -> Any:
    """Return an intrinsic ``mask = f(gT, boff, qu, qoff, qstride, nk, terms, thr, out)``.

    For ``nq`` queries (rows of ``qu`` from byte ``qoff``, ``qstride`` apart, unsigned bytes)
    and the 16 gallery vectors of the block starting at byte ``boff`` of ``gT`` (signed
    bytes), it sums ``nk`` groups of four dimensions, turns the int32 sums into approximate
    scores ``(sum - terms[0]) * terms[1]`` (float32, per lane), stores them into the
    C-contiguous float32 ``out`` (nq x 16) and returns a bit mask of the queries ``j`` with
    any score above ``thr[j]``.
    """

    @intrinsic
    def block(typingctx: Any, g_t: Any, boff: Any, qu: Any, qoff: Any, qstride: Any,
              nk: Any, terms: Any, thr: Any, out: Any) -> Any:
        sig = types.int64(g_t, types.intp, qu, types.intp, types.intp, types.intp, terms, thr,
                          out)

        def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
            tys = signature.args
            i8p = ir.IntType(8).as_pointer()
            data = [builder.bitcast(context.make_array(tys[i])(context, builder, args[i]).data, i8p)
                    for i in (0, 2, 6, 7, 8)]
            gdata, qdata, tdata, thdata, odata = data
            boff_v, qoff_v, stride_v, nk_v = args[1], args[3], args[4], args[5]
            gbase = builder.gep(gdata, [boff_v])
            qbase = builder.gep(qdata, [qoff_v])
            fnty = ir.FunctionType(_I32X16, [_I32X16] * 3)
            dpbusd = cgutils.get_or_insert_function(  # type: ignore[no-untyped-call]
                builder.module, fnty, "llvm.x86.avx512.vpdpbusd.512")
            zero = ir.Constant(_I32X16, None)
            accs = [cgutils.alloca_once_value(builder, zero)  # type: ignore[no-untyped-call]
                    for _ in range(nq)]
            splat = ir.Constant(_I32X16, [0] * 16)
            vptr = _I32X16.as_pointer()
            with cgutils.for_range(builder, nk_v) as loop:
                k = loop.index
                gptr = builder.gep(gbase, [builder.mul(k, ir.Constant(k.type, 64))])
                gv = builder.load(builder.bitcast(gptr, vptr), align=1)
                k4 = builder.mul(k, ir.Constant(k.type, 4))
                for j in range(nq):
                    qo = builder.add(k4, builder.mul(stride_v, ir.Constant(stride_v.type, j)))
                    qptr = builder.bitcast(builder.gep(qbase, [qo]), _I32.as_pointer())
                    qs = builder.load(qptr, align=1)
                    qv = builder.insert_element(ir.Constant(_I32X16, ir.Undefined), qs,
                                                ir.Constant(_I32, 0))
                    qv = builder.shuffle_vector(qv, ir.Constant(_I32X16, ir.Undefined), splat)
                    acc = builder.call(dpbusd, [builder.load(accs[j]), qv, gv])
                    builder.store(acc, accs[j])
            fvptr = _F32X16.as_pointer()
            corr = builder.load(builder.bitcast(tdata, fvptr), align=1)
            scale = builder.load(builder.bitcast(builder.gep(tdata, [_c64(64)]), fvptr), align=1)
            mask = ir.Constant(ir.IntType(64), 0)
            for j in range(nq):
                approx = builder.fmul(builder.fsub(builder.sitofp(builder.load(accs[j]), _F32X16),
                                                   corr), scale)
                builder.store(approx, builder.bitcast(builder.gep(odata, [_c64(64 * j)]), fvptr),
                              align=1)
                t = builder.load(builder.bitcast(builder.gep(thdata, [_c64(4 * j)]),
                                                 ir.FloatType().as_pointer()), align=1)
                tv = builder.shuffle_vector(
                    builder.insert_element(ir.Constant(_F32X16, ir.Undefined), t, _c32(0)),
                    ir.Constant(_F32X16, ir.Undefined), splat)
                hit = builder.bitcast(builder.fcmp_ordered(">", approx, tv), ir.IntType(16))
                any_hit = builder.zext(builder.icmp_unsigned("!=", hit, ir.Constant(ir.IntType(16), 0)),
                                       ir.IntType(64))
                mask = builder.or_(mask, builder.shl(any_hit, ir.Constant(ir.IntType(64), j)))
            return mask

        return sig, codegen

    return block


def _c64(v: int) -> ir.Constant:
    return ir.Constant(ir.IntType(64), v)


def _c32(v: int) -> ir.Constant:
    return ir.Constant(_I32, v)
