"""Convolutions of one group by mlxa's own microkernel (kernels/microkernel.py): the weight packed
once for it, the bias and a relu or clip applied in its store. A 1x1 conv (stride 1, no padding)
is one product over the input itself, by runs or by panels of columns; any other conv reads its
(padded) input through offset tables, in one of two orientations, or for a strided conv along the
pixels copies im2col bands, or for a 3x3 stride-1 conv goes by Winograd (winograd_ir.py), or for
a small output map goes across the batch's items, its edge pixels apart, multiplying no padding:
the ways of `product`, the fastest kept at bind time. The op table runs the same convs as BLAS
products, which pack the weight again on every call, then one more pass over the output for the
bias, and the activation is one more.

Binding runs this and what would bind without it in turns (kernels/trial.py) and keeps the
faster: for a conv of one input channel depthwise_vector (depthwise_ir.py, itself tried against
what follows), the direct conv (conv_direct.py) for a stem it takes, conv_packed's pick
(oneDNN's conv or the op table's) where torch is installed, else the op table's conv, which runs
3x3 stride-1 convs by Winograd and so multiplies less. `variant` on the bound call says which
ran."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

import numpy as np

from mlxa.kernels.epilogue import clamp, table_conv, takes_activation
from mlxa.kernels.generated import carve
from mlxa.kernels.llvm_ir import Call
from mlxa.kernels.plane_copy import frame
from mlxa.kernels.registry import Attrs, Site, bind_in_use, register_kernel
from mlxa.kernels.trial import faster, keep_fastest, where_contiguous
from mlxa.ops import conv
from mlxa.ops.bound import Step, sequence
from mlxa.ops.conv_im2col import band_rows
from mlxa.ops.spatial import Window, window, windows_view

F32 = np.dtype(np.float32)
BAND_NBYTES = 1 << 18  # a band's column buffer: stays in L2 while the product reads it


def gemm_applies(site: Site) -> bool:
    """float32 NCHW conv of one group with a constant weight (and constant bias); relu, clip
    or no epilogue."""
    if len(site.ins) < 2 or len(site.ins[0].shape) != 4 or len(site.ins[1].shape) != 4:
        return False
    x, w = site.ins[0], site.ins[1]
    if x.dtype != F32 or w.dtype != F32 or not all(site.params[1:]):
        return False
    if int(site.attrs.get("group", 1)) != 1 or w.shape[1] != x.shape[1]:
        return False
    return site.epilogue is None or takes_activation(site)


@register_kernel("conv", name="conv_gemm", technique="llvm", applies=gemm_applies,
                 requires=("llvmlite",))
def bind_gemm(ins: Sequence[np.ndarray], outs: Sequence[np.ndarray], attrs: Attrs,
              workspace: np.ndarray | None) -> Step:
    """conv + bias + relu/clip by the microkernel (`product`), kept where its trial beats
    what would bind without it (`_default`)."""
    return where_contiguous((ins[0], outs[0]), lambda: product(ins, outs[0], attrs, workspace),
                            "conv_gemm", lambda: _default(ins, outs, attrs, workspace))


def _default(ins: Sequence[np.ndarray], outs: Sequence[np.ndarray], attrs: Attrs,
             workspace: np.ndarray | None) -> tuple[Step, str]:
    """What binds without this kernel among the kernels in use (registry.in_use), and the name
    of what its trial kept: for a conv of one input channel, depthwise_vector's loops (it is
    a depthwise conv with a multiplier; digits_cnn's first conv 0.67 us against the
    microkernel's 0.92, at 1 x 28 x 28 to 32 channels 8.6 against 7.6), whose own default is
    dense_default's pick; else dense_default's pick."""
    from mlxa.kernels.depthwise_ir import depthwise_takes

    if (depthwise_takes(ins[0].shape, ins[1].shape, attrs)
            and (found := bind_in_use("depthwise_vector", ins, outs, attrs, workspace))):
        return found
    return dense_default(ins, outs, attrs, workspace)


def dense_default(ins: Sequence[np.ndarray], outs: Sequence[np.ndarray], attrs: Attrs,
                  workspace: np.ndarray | None) -> tuple[Step, str]:
    """A conv of one group without mlxa's microkernel, and the name of what ran: the direct
    conv for a stem it takes (conv_direct.py; the turned microkernel ran MobileNetV2's stem in
    290 us against its 466, and tied on small_cnn's), else conv_packed's oneDNN conv against
    the op table where the conv is one it takes (ResNet's 7x7 stem and some 3x3 convs ran
    faster there), else the op table's conv (and its epilogue); each where in use."""
    from mlxa.kernels.conv_direct import direct_takes
    from mlxa.kernels.conv_packed import packed_takes

    if (direct_takes(ins[0].shape, ins[1].shape, attrs)
            and (found := bind_in_use("conv_direct", ins, outs, attrs, workspace)) is not None):
        return found
    if (packed_takes(ins[1].shape, attrs)
            and (found := bind_in_use("conv_packed", ins, outs, attrs, workspace)) is not None):
        return found
    return table_conv(ins, outs, attrs, workspace), "numpy"


def product(ins: Sequence[np.ndarray], out: np.ndarray, attrs: Attrs,
            workspace: np.ndarray | None, way: str | None = None) -> Step:
    """The microkernel's conv: x and out C-contiguous, by the way a bind-time trial finds fastest
    (`way` forces one). A 1x1 conv is one product over x, its columns in runs (`by_runs`) or in
    panels (`by_panels`, microkernel.compiled). Any other conv goes: vectors along the output's
    pixels, a stride-1 conv reading the (padded) input plane itself, each weight tap's row of
    the product being the plane shifted by that tap (`_direct`), a strided one by im2col bands
    (`_im2col`); vectors along the output channels (`_turned`), each pixel's input read where it
    lies, strided or not; or, for a 3x3 stride-1 conv, Winograd's F(2x2, 3x3) with compiled
    transforms, its 16 products by the microkernel (winograd_ir.py); or, for a map of at most
    ACROSS_ITEMS_PIXELS output pixels, the turned kernel across the batch's items
    (`_across_items`). The turned kernel won on 3x3 convs of many channels and on strided ones
    (ResNet's 512 x 7 x 7: 2.63 against 2.97 ms; 256 x 28 x 28 stride 2: 2.24 against 3.16), and
    lost on few channels; Winograd won on every 3x3 stride-1 conv of small_cnn and ResNet timed
    (32 x 28 x 28 at batch 32: 3.5 against 5.2 ms; ResNet's 128 x 28 x 28: 1.42 against 2.37);
    across items won where the map is small and the batch is not (digits_cnn's 16 -> 32 over 4 x
    4 at batch 32: 43 against 65 us; ResNet's 512 x 7 x 7 at batch 32: 80 against 103 ms) and
    lost on that ResNet conv at batch 1 (7.7 against 3.3 ms)."""
    from mlxa.kernels import microkernel, winograd_ir

    x, w = ins[0], ins[1]
    n, c, h, wd = x.shape
    o = w.shape[0]
    bias = ins[2] if len(ins) == 3 else None
    bounds = clamp(attrs)
    win = window(h, wd, w.shape[2], w.shape[3], attrs)
    plain = {k: v for k, v in attrs.items() if k != "epilogue"}

    def pointwise(panels: bool) -> Step:
        mr, nv, vl = microkernel.blocking()
        wp, bp = microkernel.pack(w.reshape(o, -1), bias, mr)
        cols = win.out_h * win.out_w
        return Call(microkernel.compiled(mr, nv, vl, panels=panels), (wp, bp, x, out),
                    (wp.ctypes.data, x.ctypes.data, bp.ctypes.data, out.ctypes.data,
                     n, o, c, cols, cols, cols, c * cols, o * cols, *bounds))

    def along_pixels() -> Step:
        mr = microkernel.blocking()[0]
        wp, bp = microkernel.pack(w.reshape(o, -1), bias, mr)
        plan = _direct if win.strides == (1, 1) else _im2col
        return plan(x, out, wp, bp, win, bounds, workspace)

    def along_channels() -> Step:
        return _turned(x, out, w, bias, win, bounds, workspace)

    def across_items() -> Step:
        return _across_items(x, out, w, bias, win, bounds)

    def winograd() -> Step:
        return winograd_ir.bind(x, w, bias, out, win, bounds, workspace)

    ways: dict[str, Callable[[], Step]]
    if conv.plan(x.shape, w.shape, plain, x.itemsize).kind == "pointwise":  # as the op table
        ways = {"by_runs": partial(pointwise, False), "by_panels": partial(pointwise, True)}
    else:
        ways = {"along_pixels": along_pixels, "along_channels": along_channels}
        if win.out_h * win.out_w <= ACROSS_ITEMS_PIXELS:
            ways["across_items"] = across_items
        if winograd_ir.takes(w.shape, win):
            ways["winograd"] = winograd
    if way is not None:
        if way not in ways:
            raise ValueError(f"conv_gemm: no way {way!r} for this conv (it has {sorted(ways)})")
        return ways[way]()
    return keep_fastest([partial(_named, bind, name) for name, bind in ways.items()],
                        faster).run


def _named(bind: Callable[[], Step], name: str) -> tuple[Step, str]:
    return bind(), name


def _plane_shape(win: Window) -> tuple[int, int]:
    """(H, W) of the plane a kernel reads: the padded input's, or the input's own."""
    return (win.padded_h, win.padded_w) if win.needs_padding else (win.h, win.w)


def _padded_input(x: np.ndarray, win: Window, workspace: np.ndarray | None,
                  *more: int) -> tuple[list[tuple[list[Step], np.ndarray]], list[np.ndarray]]:
    """Per item: the steps padding its input (none without padding) and the plane the kernel
    reads; then the other buffers of `more` floats carved with it."""
    n, c = x.shape[:2]
    ph, pw = _plane_shape(win)
    padded_n = c * ph * pw if win.needs_padding else 0
    padded_flat, *rest = carve(workspace, padded_n, *more)
    if not padded_n:
        return [([], x[item]) for item in range(n)], rest
    plane = padded_flat.reshape(c, ph, pw)
    return [([frame(x[item], plane, win.pads[0], win.pads[1])], plane)
            for item in range(n)], rest


def _turned(x: np.ndarray, out: np.ndarray, w: np.ndarray, bias: np.ndarray | None,
            win: Window, bounds: tuple[float, float], workspace: np.ndarray | None) -> Step:
    """The microkernel turned around (microkernel.compiled_t): vectors along the output
    channels, a tile of 8 output pixels each reading its input at its own offset in the
    (padded) plane: any stride or dilation, no column buffer, no spill."""
    from mlxa.kernels import microkernel

    c = x.shape[1]
    o = out.shape[1]
    ph, pw = _plane_shape(win)
    (sh, sw), (dh, dw), ow = win.strides, win.dilations, win.out_w
    offsets = _tap_offsets(c, win.kh, win.kw, ph, pw, dh, dw)
    cols = win.out_h * ow
    p = np.minimum(np.arange(-(-cols // microkernel.PIXELS) * microkernel.PIXELS), cols - 1)
    columns = ((p // ow) * sh * pw + (p % ow) * sw).astype(np.int64)
    nv = microkernel.pick_nv(o)
    wp, bp = microkernel.pack(w.reshape(o, -1), bias, nv * 8)
    kernel = microkernel.compiled_t(nv)
    items, _ = _padded_input(x, win, workspace)
    steps: list[Step] = []
    for item, (pad, plane) in enumerate(items):
        steps += pad
        dst = out[item]
        steps.append(Call(kernel, (wp, bp, plane, dst, offsets, columns),
                          (wp.ctypes.data, plane.ctypes.data, bp.ctypes.data, dst.ctypes.data,
                           o, offsets.size, cols, offsets.ctypes.data, columns.ctypes.data,
                           cols, *bounds)))
    return sequence(steps)


# Output maps up to this many pixels also try `across_items`: past it, the map fills the turned
# kernel's tiles by itself and its edges are a small share of its taps.
ACROSS_ITEMS_PIXELS = 64


def edge_classes(win: Window) -> list[tuple[list[int], list[int], list[int]]]:
    """The output pixels grouped by the taps that land inside the input: (kernel rows, kernel
    columns, pixels r * out_w + q) for each group; every pixel in one group, the groups in
    order of their first row and column. A pixel's other taps read padding (zeros)."""
    (sh, sw), (dh, dw) = win.strides, win.dilations

    def inside(count: int, stride: int, pad: int, k: int, dil: int, size: int
               ) -> dict[tuple[int, ...], list[int]]:
        groups: dict[tuple[int, ...], list[int]] = {}
        for r in range(count):
            taps = tuple(i for i in range(k) if 0 <= r * stride - pad + i * dil < size)
            groups.setdefault(taps, []).append(r)
        return groups

    rows = inside(win.out_h, sh, win.pads[0], win.kh, dh, win.h)
    cols = inside(win.out_w, sw, win.pads[1], win.kw, dw, win.w)
    return [(list(ti), list(tj), [r * win.out_w + q for r in rs for q in qs])
            for ti, rs in rows.items() for tj, qs in cols.items()]


def _across_items(x: np.ndarray, out: np.ndarray, w: np.ndarray, bias: np.ndarray | None,
                  win: Window, bounds: tuple[float, float]) -> Step:
    """The turned kernel over the whole batch, a call per edge class (`edge_classes`): each
    class's pixels of every item are its columns, so a small map still fills whole tiles, and
    its reduction is only the taps inside the input, so no padding is read, copied or
    multiplied (a 3 x 3 conv over a 4 x 4 map: 100 of its 144 taps). The input is read where
    it lies; each column is stored a float at a time where its pixel lies in the output
    (microkernel.compiled_t, scattered)."""
    from mlxa.kernels import microkernel

    n, c, h, wd = x.shape
    o = out.shape[1]
    (sh, sw), (dh, dw) = win.strides, win.dilations
    nv = microkernel.pick_nv(o)
    nb = nv * 8
    wp, bp = microkernel.pack(w.reshape(o, -1), bias, nb)
    kernel = microkernel.compiled_t(nv, scattered=True)
    pixels = win.out_h * win.out_w
    ci = np.arange(c)[:, None, None]
    item = np.arange(n)[:, None]
    every_offset = _tap_offsets(c, win.kh, win.kw, h, wd, dh, dw)  # over the unpadded input
    steps_list: list[Step] = []
    for ti, tj, pix in edge_classes(win):
        i, j = np.array(ti)[None, :, None], np.array(tj)[None, None, :]
        steps = (ci * (win.kh * win.kw) + i * win.kw + j).astype(np.int64).reshape(-1)
        offsets = every_offset[steps]
        p = np.array(pix)
        corner = (p // win.out_w * sh - win.pads[0]) * wd + (p % win.out_w * sw - win.pads[1])
        columns = (item * (c * h * wd) + corner[None, :]).astype(np.int64).reshape(-1)
        out_columns = (item * (o * pixels) + p[None, :]).astype(np.int64).reshape(-1)
        cols = -(-columns.size // microkernel.PIXELS) * microkernel.PIXELS
        columns = np.pad(columns, (0, cols - columns.size), mode="edge")
        out_columns = np.pad(out_columns, (0, cols - out_columns.size), mode="edge")
        steps_list.append(Call(kernel, (wp, bp, x, out, offsets, columns, steps, out_columns),
                               (wp.ctypes.data, x.ctypes.data, bp.ctypes.data, out.ctypes.data,
                                o, steps.size, cols, offsets.ctypes.data, columns.ctypes.data,
                                pixels, *bounds, steps.ctypes.data, out_columns.ctypes.data,
                                c * win.kh * win.kw * nb)))
    return sequence(steps_list)


def _tap_offsets(c: int, kh: int, kw: int, ph: int, pw: int, dh: int, dw: int) -> np.ndarray:
    """Where reduction step (ci, i, j) reads, relative to an output pixel's window corner in a
    c x ph x pw plane."""
    return (np.arange(c)[:, None, None] * (ph * pw) + np.arange(kh)[None, :, None] * (dh * pw)
            + np.arange(kw)[None, None, :] * dw).astype(np.int64).reshape(-1)


def _direct(x: np.ndarray, out: np.ndarray, wp: np.ndarray, bp: np.ndarray, win: Window,
            bounds: tuple[float, float], workspace: np.ndarray | None) -> Step:
    """A stride-1 conv with no column buffer. Over the input plane (padded, H x W), output
    pixel (r, q) read as column r * W + q, the tap (ci, i, j) reads column + ci*H*W + i*dh*W +
    j*dw: every row of the product is the plane at one offset (the kernel's offset table). The
    columns run over whole plane rows, so each output row comes with W - out_w columns past
    its end that no output takes; they go to a scratch [O, out_h, W], cropped out after, unless
    W == out_w. The input is read where it lies: no copy of nine shifted planes. Padding and
    cropping are plane_copy.py's (numpy's strided copies cost twice as much on small maps)."""
    from mlxa.kernels import microkernel

    c = x.shape[1]
    o = out.shape[1]
    ph, pw = _plane_shape(win)
    oh, ow = win.out_h, win.out_w
    offsets = _tap_offsets(c, win.kh, win.kw, ph, pw, *win.dilations)
    cols = (oh - 1) * pw + ow
    spill_n = o * oh * pw if pw != ow else 0
    items, (spill_flat,) = _padded_input(x, win, workspace, spill_n)
    mr, nv, vl = microkernel.blocking()
    kernel = microkernel.compiled(mr, nv, vl, table=True)
    steps: list[Step] = []
    for item, (pad, plane) in enumerate(items):
        steps += pad
        dst = spill_flat.reshape(o, oh, pw) if spill_n else out[item]
        steps.append(Call(kernel, (wp, bp, plane, dst, offsets),
                          (wp.ctypes.data, plane.ctypes.data, bp.ctypes.data, dst.ctypes.data,
                           1, o, offsets.size, cols, offsets.ctypes.data, oh * pw, 0, 0,
                           *bounds)))
        if spill_n:
            steps.append(frame(dst[:, :, :ow], out[item], 0, 0))
    return sequence(steps)


def _im2col(x: np.ndarray, out: np.ndarray, wp: np.ndarray, bp: np.ndarray, win: Window,
            bounds: tuple[float, float], workspace: np.ndarray | None) -> Step:
    """A strided conv along the pixels: each band of output rows' windows copied into a
    column buffer, the product over the band."""
    from mlxa.kernels import microkernel

    c = x.shape[1]
    o = out.shape[1]
    k = c * win.kh * win.kw
    cols = win.out_h * win.out_w
    kernel = microkernel.compiled(*microkernel.blocking())
    band = band_rows((o, c, win.kh, win.kw), win, 1, BAND_NBYTES, 4)
    items, (col,) = _padded_input(x, win, workspace, k * band * win.out_w)
    steps: list[Step] = []
    for item, (pad, plane) in enumerate(items):
        steps += pad
        views = windows_view(plane, win)  # (C, kh, kw, out_h, out_w)
        for r0 in range(0, win.out_h, band):
            rows = min(band, win.out_h - r0)
            part = views[..., r0:r0 + rows, :]
            buf = col[:part.size].reshape(part.shape)
            dst = out[item, :, r0:r0 + rows]
            steps += [partial(np.copyto, buf, part),
                      Call(kernel, (wp, bp, buf, dst),
                           (wp.ctypes.data, buf.ctypes.data, bp.ctypes.data, dst.ctypes.data,
                            1, o, k, rows * win.out_w, rows * win.out_w, cols, 0, 0,
                            *bounds))]
    return sequence(steps)
