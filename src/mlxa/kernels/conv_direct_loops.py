"""The Numba loops behind kernels/conv_direct.py (imported only when one is bound: it needs numba).

A direct convolution for few input channels: per batch item the input is copied once into a
zero-padded buffer (stride 1: each channel (Hp, Wp); stride 2: each channel split into its four
phases, row and column parity, each (Hq, Wq)), so that every tap reads a contiguous run at a
constant offset from the output position at the buffer's pitch. A block of output rows is
computed as one "wide" run of positions (pitch apart, the few columns past the output's width
discarded), all C*kh*kw taps of one output channel accumulated in registers, bias and clamp
applied, one store per position; the run is then copied out row by row.

The tap loop is generated per (C, kh, kw, stride): each tap becomes a statement with its weight
in a register and its source a row view read at a constant displacement, so LLVM vectorises the
position loop with no inner loop over taps and no accumulator in memory. The taps are summed in
PARTIALS independent chains (an FMA's latency would otherwise bound the loop). The source is
written to $MLXA_CACHE_DIR/kernels (as kernels/chain.py does) so Numba's cache keeps the
machine code between runs; where that cannot be written it is compiled in memory.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numba

from mlxa.kernels.generated import load

PARTIALS = 4  # independent accumulation chains per position (shared by the channels of a pass)
OB_WEIGHTS = 24  # weights a pass keeps in registers
OPTIONS = "cache=CACHE, boundscheck=False, error_model='numpy', fastmath={'contract'}"


@numba.njit(cache=True, boundscheck=False, error_model="numpy")
def _zero(dst, start, stop):  # pragma: no cover - compiled
    for q in range(start, stop):
        dst[q] = 0.0


@numba.njit(cache=True, boundscheck=False, error_model="numpy")
def fill_s1(x, buf, pt, pl, hp, wp):  # pragma: no cover - compiled
    """The zero-padded (C, Hp, Wp) buffer from one item x[C, H, W]: every float written once
    (the input, or a zero around it)."""
    ch, hgt, wid = x.shape
    cols = min(wid, wp - pl)
    for c in range(ch):
        for py in range(hp):
            dst = buf[(c * hp + py) * wp:]
            r = py - pt
            if r < 0 or r >= hgt:
                _zero(dst, 0, wp)
                continue
            src = x[c, r]
            _zero(dst, 0, pl)
            row = dst[pl:]
            for q in range(cols):
                row[q] = src[q]
            _zero(dst, pl + cols, wp)


@numba.njit(cache=True, boundscheck=False, error_model="numpy")
def fill_s2(x, buf, pt, pl, hq, wq):  # pragma: no cover - compiled
    """The four phase planes of each channel, (C, 4, Hq, Wq), plane 2 * (row parity) + column
    parity of the zero-padded image: padded (py, px) lands at (py // 2, px // 2) of plane
    (py % 2, px % 2). Every float written once; the columns split by one loop over (even, odd)
    pairs, which vectorises."""
    ch, hgt, wid = x.shape
    size = hq * wq
    cols = min(wid, 2 * wq - pl)
    first = pl % 2  # input columns q with q + pl even: q = first, first + 2, ...
    e0, o0 = (first + pl) // 2, (1 - first + pl) // 2  # plane columns of the first of each
    neven = max(0, (cols - first + 1) // 2)
    nodd = max(0, (cols - (1 - first) + 1) // 2)
    pairs = min(neven, nodd)
    for c in range(ch):
        for py in range(2 * hq):
            ev = buf[(c * 4 + 2 * (py % 2)) * size + (py // 2) * wq:]
            od = buf[(c * 4 + 2 * (py % 2) + 1) * size + (py // 2) * wq:]
            r = py - pt
            if r < 0 or r >= hgt:
                _zero(ev, 0, wq)
                _zero(od, 0, wq)
                continue
            _zero(ev, 0, e0)
            _zero(od, 0, o0)
            src = x[c, r]
            se = ev[e0:e0 + pairs]
            so = od[o0:o0 + pairs]
            pr = src[:2 * pairs]  # the pair (0, 1) first: even then odd when pl is even
            if first == 0:
                for t in range(pairs):
                    se[t] = pr[2 * t]
                    so[t] = pr[2 * t + 1]
            else:
                for t in range(pairs):
                    so[t] = pr[2 * t]
                    se[t] = pr[2 * t + 1]
            if neven > pairs:
                ev[e0 + pairs] = src[first + 2 * pairs]
            if nodd > pairs:
                od[o0 + pairs] = src[1 - first + 2 * pairs]
            _zero(ev, e0 + neven, wq)
            _zero(od, o0 + nodd, wq)


@numba.njit(cache=True, boundscheck=False, error_model="numpy")
def copy_rows(acc, out, pitch, rows, ow, y0):  # pragma: no cover - compiled
    """out[y0 + r, :ow] = acc[r * pitch:r * pitch + ow] for r < rows."""
    for r in range(rows):
        src = acc[r * pitch:]
        dst = out[y0 + r]
        for q in range(ow):
            dst[q] = src[q]


def rows_of_taps(ch: int, kh: int, kw: int, stride: int) -> list[tuple[int, int, int, list[
        tuple[int, int]]]]:
    """The taps grouped by the buffer row they read: (channel, plane, row offset, [(tap index,
    column offset)]), tap index c*kh*kw + i*kw + j. Stride 1: plane 0, row i, column j; stride
    2: plane 2*(i%2) + j%2, row i//2, column j//2."""
    rows = []
    for c in range(ch):
        for i in range(kh):
            for parity in ((0,) if stride == 1 else (0, 1)):
                taps = [((c * kh + i) * kw + j, j if stride == 1 else j // 2)
                        for j in range(kw) if stride == 1 or j % 2 == parity]
                if taps:
                    plane = 0 if stride == 1 else 2 * (i % 2) + parity
                    rows.append((c, plane, i if stride == 1 else i // 2, taps))
    return rows


def _block(rows: list[tuple[int, int, int, list[tuple[int, int]]]], ntaps: int,
           ob: int, first: str, groups: list[list[int]]) -> list[str]:
    """The loops over output positions for `ob` output channels from `first` on: each tap's
    source read once into a register and multiplied by the `ob` weights, the taps summed in
    `partials` chains per channel; rowwise straight into `out`, else into `acc` then copied.
    With more than one group of rows (taps of more weights than registers hold), one loop per
    group, each adding its taps to what the previous one stored; the last clamps."""
    nrows = max(len(g) for g in groups)
    partials = min(max(1, PARTIALS // ob), nrows)
    head = [f"w{q}_{t} = wf[{first} + {q}, {t}]" for q in range(ob) for t in range(ntaps)]
    head += [f"bias{q} = b[{first} + {q}]" for q in range(ob)]

    def loop(dst: str, g: int) -> list[str]:
        start = [f"bias{q}" if g == 0 else f"{dst}{q}[k]" for q in range(ob)]
        sums = [f"s{q}_{p} = {start[q] if p == 0 else 'np.float32(0.0)'}"
                for q in range(ob) for p in range(partials)]
        stmts = []
        for m, r in enumerate(groups[g]):
            for t, d in rows[r][3]:
                stmts.append(f"v = r{r}[k + {d}]")
                stmts += [f"s{q}_{m % partials} += w{q}_{t} * v" for q in range(ob)]
        totals = [" + ".join(f"s{q}_{p}" for p in range(partials)) for q in range(ob)]
        last = g == len(groups) - 1
        stores = [f"{dst}{q}[k] = " + (f"min(max({totals[q]}, lo), hi)" if last else totals[q])
                  for q in range(ob)]
        return [*sums, *stmts, *stores]

    out = [*head, "if rowwise:", *(f"    d{q} = out[n, {first} + {q}, y0]" for q in range(ob))]
    for g in range(len(groups)):
        out += ["    for k in range(ow):", *("        " + x for x in loop("d", g))]
    out += ["else:", *(f"    a{q} = acc[{q} * count:{q + 1} * count]" for q in range(ob))]
    for g in range(len(groups)):
        out += ["    for k in range(count):", *("        " + x for x in loop("a", g))]
    return out + [f"    copy_rows(a{q}, out[n, {first} + {q}], pitch, nrows, ow, y0)"
                  for q in range(ob)]


def channels_per_pass(ch: int, kh: int, kw: int) -> int:
    """Output channels computed together, sharing each source load: as many as keep their
    weights in (about 24 of the 32 vector) registers, counting the taps of one input channel
    where all taps would not fit for two (such a pass runs one loop per input channel)."""
    ntaps = ch * kh * kw
    per = ntaps if 2 * ntaps <= OB_WEIGHTS else kh * kw
    return max(1, min(4, OB_WEIGHTS // per))


def _groups(rows: list[tuple[int, int, int, list[tuple[int, int]]]], ob: int,
            ntaps: int) -> list[list[int]]:
    """The rows of each loop: all in one where the pass's weights fit the registers, else one
    loop per input channel."""
    if ob * ntaps <= OB_WEIGHTS or ob == 1:
        return [list(range(len(rows)))]
    channels = sorted({c for c, _, _, _ in rows})
    return [[r for r, row in enumerate(rows) if row[0] == c] for c in channels]


def source(ch: int, kh: int, kw: int, stride: int) -> str:
    """The Python source of `conv(x, w, b, out, pt, pl, lo, hi, buf, acc, rb, rowwise)` for
    one (C, kh, kw, stride): x[N, C, H, W], w[O, C, kh, kw] C-contiguous, out C-contiguous,
    `buf` the padded buffer, `acc` at least channels_per_pass * rb * pitch floats, `rb` output
    rows per block (1 with `rowwise`: each output row computed straight into `out`)."""
    ntaps = ch * kh * kw
    ob = channels_per_pass(ch, kh, kw)
    rows = rows_of_taps(ch, kh, kw, stride)
    views = []
    for r, (c, plane, dy, taps) in enumerate(rows):
        at = f"base + {c} * chan + {plane} * size + {dy} * pitch"
        views.append(f"r{r} = buf[{at}:{at} + count + {max(d for _, d in taps)}]")
    geometry = (["hp = oh - 1 + KH", "size = hp * pitch", "chan = size"] if stride == 1 else
                ["hq = oh + (KH - 1) // 2", "size = hq * pitch", "chan = 4 * size"])
    fill = ("fill_s1(x[n], buf, pt, pl, hp, pitch)" if stride == 1
            else "fill_s2(x[n], buf, pt, pl, hq, pitch)")
    blocked = _block(rows, ntaps, ob, "o", _groups(rows, ob, ntaps))
    single = _block(rows, ntaps, 1, "o", _groups(rows, 1, ntaps)) if ob > 1 else ["pass"]
    lines = [f"KH, KW, OB = {kh}, {kw}, {ob}",
             "",
             "",
             f"@numba.njit({OPTIONS})",
             "def conv(x, w, b, out, pt, pl, lo, hi, buf, acc, rb, rowwise, pitch):",
             "    nb = x.shape[0]",
             "    oc, oh, ow = out.shape[1], out.shape[2], out.shape[3]",
             *("    " + s for s in geometry),
             f"    wf = w.reshape(oc, {ntaps})",
             "    for n in range(nb):",
             "        " + fill,
             "        for y0 in range(0, oh, rb):",
             "            nrows = min(rb, oh - y0)",
             "            count = (nrows - 1) * pitch + ow",
             "            base = y0 * pitch",
             *("            " + s for s in views),
             "            for o in range(0, oc - OB + 1, OB):",
             *("                " + s for s in blocked),
             "            for o in range(oc - oc % OB, oc):",
             *("                " + s for s in single)]
    return "\n".join(lines) + "\n"


PRELUDE = ("import numba\nimport numpy as np\n"
           "from mlxa.kernels.conv_direct_loops import copy_rows, fill_s1, fill_s2\n")


def compiled(ch: int, kh: int, kw: int, stride: int) -> Callable[..., None]:
    """The Numba function `conv` for one (C, kh, kw, stride) (kernels/generated.py: cached on
    disk; the key covers this file too, whose helpers the generated code calls)."""
    return load("conv_direct", source(ch, kh, kw, stride), PRELUDE, "conv",
                Path(__file__).read_bytes())

