"""Depthwise convs (one input channel per group, M output channels from each: M = 1 in
MobileNets; a conv of one input channel, a digit classifier's first, is the case group = 1) +
bias + relu/clip as LLVM IR vector loops (llvm_ir.py), for any map size, reading the input
where it lies: no padded copy of it.

Per channel, the output columns are cut into bands: the first vectors of columns (one unless the
left padding is wider than a vector) and the last ones, whose windows reach into the left and
right padding, take masked loads (the lanes outside the input read as zero) and masked stores;
between them, where every column a window reads lies inside, runs of NJ vectors and then single
vectors take plain loads. A map no wider than two vectors (14 x 14) is one masked band of two
vectors. Each band accumulates its kh x kw taps over a group of output rows in registers (8 to
16 accumulators: the more vectors in a run, the fewer rows), input row by input row: each
shifted vector is loaded once and added into every output row whose window holds it. A row of
the top or bottom padding reads a row of zeros and a row past the last output row stores into
a sink, so that no load or store sits under a branch. Stride 2 loads two vectors and keeps the
even lanes, and the odd lanes of the same pair serve the next tap. The same loops with max for
the multiply-add, -inf for the padding and no weights are a max pool (`compiled(pool=True)`,
pool_ir.max_pool_window).

Against depthwise_act's Numba loops (benchmarks/depthwise.py, one core) it is faster on every
stride-1 conv of MobileNetV2 (1.1-2.0x) and on the strided ones with 14x14 and 7x7 outputs, and
slower (0.8x) on those with 56x56 and 28x28 outputs. So binding runs both (or the op table's
conv, without Numba) in turns (kernels/trial.py) and keeps the faster; a conv with a multiplier
runs against the op table's conv, and one of one input channel against what conv_gemm's
dense_default binds (the direct conv, oneDNN's)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np

from mlxa.kernels.epilogue import clamp, table_conv, takes_activation
from mlxa.kernels.generated import count
from mlxa.kernels.llvm_ir import Call, Emitter, compile_function, host_features
from mlxa.kernels.registry import Attrs, Site, bind_in_use, register_kernel
from mlxa.kernels.trial import where_contiguous
from mlxa.ops.bound import Step

F32 = np.dtype(np.float32)
VL = 8  # floats per vector (256 bits)
MAX_TAPS = 49  # kh * kw: the weights of a channel stay in registers


@functools.cache
def run_vectors() -> int:
    """NJ, the most vectors per run of output columns: 4 with AVX-512's 32 registers, 2 with
    AVX2's 16 (the kh x kw weights take one register each); narrower rows take fewer."""
    return 4 if "avx512f" in host_features() else 2


def depthwise_applies(site: Site) -> bool:
    """float32 NCHW conv that depthwise_takes, with a constant weight (and bias); relu, clip
    or no epilogue."""
    if len(site.ins) < 2 or len(site.ins[0].shape) != 4 or len(site.ins[1].shape) != 4:
        return False
    x, w = site.ins[0], site.ins[1]
    if x.dtype != F32 or w.dtype != F32 or not all(site.params[1:]):
        return False
    if not depthwise_takes(x.shape, w.shape, site.attrs):
        return False
    return site.epilogue is None or takes_activation(site)


def depthwise_takes(x: tuple[int, ...], w: tuple[int, ...], attrs: Attrs) -> bool:
    """One input channel per group (group = input channels, each weight one channel deep,
    output channels a multiple of the groups), dilation 1, equal strides 1 or 2, pads smaller
    than the kernel, at most MAX_TAPS taps."""
    c = x[1]
    if int(attrs.get("group", 1)) != c or w[1] != 1 or w[0] % c:
        return False
    if tuple(attrs.get("dilations", (1, 1))) != (1, 1) or w[2] * w[3] > MAX_TAPS:
        return False
    if tuple(attrs.get("strides", (1, 1))) not in ((1, 1), (2, 2)):
        return False
    pt, pl, pb, pr = (int(p) for p in attrs.get("pads", (0, 0, 0, 0)))
    return min(pt, pl, pb, pr) >= 0 and max(pt, pb) < w[2] and max(pl, pr) < w[3]


def rows_at_once(nv: int, oh: int) -> int:
    """Output rows computed together by runs of nv vectors: about 8 independent accumulators
    in all, so that the fused multiply-adds of one tap overlap (a chain of 9 taps on one
    accumulator waits on each). A single vector takes 5 to 8 rows, as many as leave the
    fewest rows computed past the last of `oh` (7 for 14 or 28 rows, not 8: 12.5% less)."""
    if nv > 1:
        return max(1, 8 // nv)
    return min(range(8, 4, -1), key=lambda g: -(-oh // g) * g)


def whole_rows(nv: int, oh: int) -> int:
    """Rows at once for a band of nv vectors that holds whole output rows (a map no wider
    than two vectors): 8 to 16 accumulators, the count that leaves the fewest rows computed
    past the last of `oh` (a 14 x 14 map: two vectors over 7 rows)."""
    return min(range(16 // nv, max(1, 8 // nv) - 1, -1), key=lambda g: -(-oh // g) * g)


@register_kernel("conv", name="depthwise_vector", technique="llvm", applies=depthwise_applies,
                 requires=("llvmlite",))
def bind_depthwise(ins: Sequence[np.ndarray], outs: Sequence[np.ndarray], attrs: Attrs,
                   workspace: np.ndarray | None) -> Step:
    """Depthwise conv + bias + relu/clip: bands of vector runs over each channel."""
    return where_contiguous((ins[0], outs[0]), lambda: product(ins, outs[0], attrs),
                            "depthwise_vector", lambda: _default(ins, outs, attrs, workspace))


def product(ins: Sequence[np.ndarray], out: np.ndarray, attrs: Attrs) -> Call:
    """The vector loops' call: x and out C-contiguous."""
    w = ins[1]
    c, _, kh, kw = w.shape  # output channels: the input's times the multiplier
    stride = int(attrs.get("strides", (1, 1))[0])
    pads = [int(p) for p in attrs.get("pads", (0, 0, 0, 0))]
    taps = np.ascontiguousarray(w.reshape(c, kh * kw))
    bias = np.ascontiguousarray(ins[2]) if len(ins) == 3 else np.zeros(c, np.float32)
    return loops_call(ins[0], out, (kh, kw), stride, (pads[0], pads[1]), taps, bias, clamp(attrs))


def loops_call(x: np.ndarray, out: np.ndarray, kernel: tuple[int, int], stride: int,
               top_left: tuple[int, int], taps: np.ndarray | None, bias: np.ndarray | None,
               bounds: tuple[float, float]) -> Call:
    """The loops' call over x [N, C, H, W] into out [N, C * M, OH, OW], both C-contiguous:
    a conv with `taps` [C * M, kh * kw] and `bias`, or without them a max pool (the padding
    then reads -inf)."""
    n, _, h, wd = x.shape
    c, oh, ow = out.shape[1:]
    pool = taps is None
    nj, single, whole = bands(oh, ow)
    edge = np.full(wd, -np.inf if pool else 0.0, np.float32)  # the padding rows read this row
    sink = np.empty(nj * VL, np.float32)  # the rows past the last are stored here
    count(edge.nbytes + sink.nbytes)
    unread = np.zeros(1, np.float32)  # a pool's weights and bias
    taps = unread if taps is None else taps
    bias = unread if bias is None else bias
    loops = compiled(*kernel, stride, nj, single, whole, pool)
    return Call(loops, (x, taps, bias, out, edge, sink),
                (x.ctypes.data, taps.ctypes.data, bias.ctypes.data, out.ctypes.data,
                 edge.ctypes.data, sink.ctypes.data, n * c, c, c // x.shape[1], h, wd, oh, ow,
                 *top_left, *bounds))


def bands(oh: int, ow: int) -> tuple[int, int, int]:
    """(NJ, single, whole) for an oh x ow output: runs of at most NJ vectors (a 7-wide row
    takes one vector, not a run of four); a single vector over `single` rows; or, for rows of
    two vectors or less, one masked band over `whole` rows (14 x 14 maps 11% faster, 7 x 7 the
    same, one vector either way; four vectors over 4 rows lost to the bands on 28 x 28, 6%),
    only with AVX-512's 32 registers (14 accumulators and 9 weights would spill AVX2's 16)."""
    nj = min(run_vectors(), -(-ow // VL))
    whole = whole_rows(nj, oh) if nj == 2 and ow <= nj * VL and run_vectors() == 4 else 0
    return nj, 0 if whole else rows_at_once(1, oh), whole


def _default(ins: Sequence[np.ndarray], outs: Sequence[np.ndarray], attrs: Attrs,
             workspace: np.ndarray | None) -> tuple[Step, str]:
    """What binds without this kernel, and its name, where in use (registry.in_use): at
    multiplier 1 depthwise_act's loops (they take no other); for a conv of one input channel
    (one group), conv_gemm.dense_default's pick, the direct conv for a stem or oneDNN's
    (small_cnn's 1 x 28 x 28 to 32 ran 11.5 us in the direct conv against 13.3 here,
    digits_cnn's 1 x 8 x 8 to 16 2.5 against 0.67); else the op table's conv (and its
    epilogue)."""
    from mlxa.kernels.conv_gemm import dense_default

    x, w = ins[0].shape, ins[1].shape
    if w[0] == x[1]:
        found = bind_in_use("depthwise_act", ins, outs, attrs, workspace)
        return found or (table_conv(ins, outs, attrs, workspace), "numpy")
    if x[1] == 1:
        return dense_default(ins, outs, attrs, workspace)
    return table_conv(ins, outs, attrs, workspace), "numpy"


@functools.cache
def compiled(kh: int, kw: int, stride: int, nj: int, single: int, whole: int = 0,
             pool: bool = False) -> Any:
    """(x, taps, bias, out, zeros, sink, planes, C, M, H, W, OH, OW, top, left, lo, hi):
    `planes` = N x C output planes, C / M input ones (output channel c reads input channel
    c / M), `zeros` a row of at least W zeros (read for the padding rows), `sink`
    NJ x VL floats (written for the rows past the last), `top` and `left` the pads before the
    first row and column. Runs of nj vectors at most; a single vector over `single` rows;
    with `whole`, one masked band of nj vectors over that many rows holds every column. With
    `pool`, a max pool: each output the max of its window (NaN wins), `taps` and `bias` unread,
    `zeros` a row of -inf, the lanes outside the input -inf."""
    from llvmlite import ir

    module = ir.Module(name="mlxa_depthwise")
    _emit(module, kh, kw, stride, nj, single, whole, pool)
    return compile_function(module, "depthwise")


def _emit(module: Any, kh: int, kw: int, stride: int, nj: int, single: int,
          whole: int, pool: bool = False) -> None:
    """`depthwise` loops over planes; per plane, over bands of columns, each over all its
    rows: masked single vectors for the first vectors of columns (they hold the left padding),
    runs of nj vectors and then single vectors where every column read lies inside the input,
    and masked single vectors for the last columns (the right padding)."""
    from llvmlite import ir

    fptr = ir.FloatType().as_pointer()
    e = Emitter(module, "depthwise", [fptr] * 6 + [ir.IntType(64)] * 9 + [ir.FloatType()] * 2,
                VL)
    b, const = e.b, e.const
    x, taps, bias, out, zeros, sink, planes, chans, mult, h, w, oh, ow, top, left, lo, hi = (
        e.fn.args)
    for arg in (x, taps, bias, out, zeros, sink):
        arg.add_attribute("noalias")
    lo_v, hi_v = e.splat(lo), e.splat(hi)
    zero = const(0)
    outside = float("-inf") if pool else 0.0  # what a lane outside the input reads

    def tap(weight: Any, v: Any, acc: Any) -> Any:
        if pool:
            return b.call(e.intrinsic("llvm.maximum", 2), [v, acc])
        return e.fma(weight, v, acc)

    # the output columns whose windows lie inside the input: from inner_lo (left / stride,
    # rounded up) to inner_hi (a negative numerator, which truncates towards zero, leaves
    # inner_hi at 0 or below: under the first run either way). The masked left band covers
    # whole vectors up to inner_lo, at least one.
    inner_lo = b.sdiv(b.add(left, const(stride - 1)), const(stride))
    left_end = b.mul(b.sdiv(b.add(inner_lo, const(VL - 1)), const(VL)), const(VL))
    left_end = b.select(b.icmp_signed("<", left_end, const(VL)), const(VL), left_end)
    inner = b.sdiv(b.add(b.sub(w, const(kw - 1)), left), const(stride))
    inner_hi = b.select(b.icmp_signed("<", inner, ow), inner, ow)

    def band(src: Any, dst: Any, weights: list[Any], b0: Any, start: Any, stop: Any, nv: int,
             masked: bool, group: int = 0) -> None:
        """Columns [start, stop) in runs of nv vectors, for every group of output rows. Input
        row by input row, each shifted vector is loaded once and added into every output row
        whose window holds it; a row of the padding reads the zero row and a row past the
        last stores into the sink (no branches: a store under a branch lets LLVM sink each
        row's sum into it, one serial chain). Unmasked, every column read and written lies
        inside; masked, the loads take only the lanes inside the input and the stores only
        those inside the output. The fewer the vectors, the more rows at once (`group`, 8 to
        16 accumulators), so that enough chains of multiply-adds overlap."""
        group = group or (single if nv == 1 else rows_at_once(nv, 0))
        rows_in = stride * (group - 1) + kh  # input rows a group of output rows reads

        def out_rows(oy: Any, _: list[Any]) -> list[Any]:
            first_row = b.sub(b.mul(oy, const(stride)), top)
            rows = []
            for i in range(rows_in):
                y = b.add(first_row, const(i))
                inside = b.and_(b.icmp_signed(">=", y, zero), b.icmp_signed("<", y, h))
                rows.append(b.select(inside, b.gep(x, [b.add(src, b.mul(y, w))]), zeros))

            def run(col: Any, _: list[Any]) -> list[Any]:
                acc = [b0] * (group * nv)
                pair: list[Any] = [None] * nv
                starts = [[b.sub(b.add(b.mul(b.add(col, const(j * VL)), const(stride)),
                                        const(kx + half * VL)), left)  # lane 0's column
                           for kx in range(kw) for half in range(stride)] for j in range(nv)]
                masks = [[b.and_(b.icmp_signed(">=", lane, e.splat(zero)),
                                 b.icmp_signed("<", lane, e.splat(w)))
                          for lane in (b.add(e.splat(at), e.lanes) for at in row)]
                         for row in starts] if masked else None
                for i, row in enumerate(rows):
                    for kx in range(kw):
                        for j in range(nv):
                            if stride == 2 and kx % 2:  # the odd lanes of the last tap's pair
                                v = e.every_other(pair[j][0], pair[j][1], odd=True)
                            else:
                                halves = [e.load(row, starts[j][kx * stride + half],
                                                 masks[j][kx * stride + half] if masks else None,
                                                 outside)
                                          for half in range(stride)]
                                v = (halves[0] if stride == 1
                                     else e.every_other(halves[0], halves[1]))
                                pair[j] = halves
                            for ky in range(kh):
                                r, off = divmod(i - ky, stride)
                                if off == 0 and 0 <= r < group:
                                    acc[r * nv + j] = tap(weights[ky * kw + kx], v,
                                                          acc[r * nv + j])
                for r in range(group):
                    y = b.add(oy, const(r))
                    into = b.select(b.icmp_signed("<", y, oh),
                                    b.gep(out, [b.add(dst, b.add(b.mul(y, ow), col))]), sink)
                    for j in range(nv):
                        mask = e.mask(b.sub(ow, b.add(col, const(j * VL)))) if masked else None
                        e.store(e.clamp(acc[r * nv + j], lo_v, hi_v), into, const(j * VL), mask)
                return []

            e.loop(start, stop, const(nv * VL), run)
            return []

        with b.if_then(b.icmp_signed("<", start, stop)):  # an empty band sets up no rows
            e.loop(zero, oh, const(group), out_rows)

    def channel(p: Any, _: list[Any]) -> list[Any]:
        ch = b.srem(p, chans)
        plane = b.add(b.mul(b.sdiv(p, chans), b.sdiv(chans, mult)), b.sdiv(ch, mult))
        src, dst = b.mul(plane, b.mul(h, w)), b.mul(p, b.mul(oh, ow))
        if pool:  # no weights; every window starts from -inf
            weights: list[Any] = [None] * (kh * kw)
            b0 = e.splat(ir.Constant(e.f32, float("-inf")))
        else:
            weights = [e.splat(b.load(b.gep(taps, [b.add(b.mul(ch, const(kh * kw)),
                                                           const(t))])))
                       for t in range(kh * kw)]
            b0 = e.splat(b.load(b.gep(bias, [ch])))
        if whole:  # a narrow map: every column in one masked run
            band(src, dst, weights, b0, zero, ow, nj, True, whole)
            return []
        band(src, dst, weights, b0, zero, left_end, 1, masked=True)
        col = left_end
        for nv in (nj, 1) if nj > 1 else (1,):  # runs of nj vectors, then single ones
            step = const(nv * VL)
            span = b.sub(inner_hi, col)
            after = b.add(col, b.mul(b.select(b.icmp_signed(">", span, zero),
                                              b.sdiv(span, step), zero), step))
            band(src, dst, weights, b0, col, after, nv, masked=False)
            col = after
        band(src, dst, weights, b0, col, ow, 1, masked=True)
        return []

    e.loop(zero, planes, const(1), channel)
    b.ret_void()
