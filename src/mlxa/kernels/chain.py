"""A fused elementwise chain compiled to one Numba loop: the code generation a JIT does.

The op table runs a fused group block by block through numpy, one ufunc call per step and
block, with transcendentals in libm's scalar code. This kernel writes the group out as Python
source, one statement per step on scalars, inside one loop over the output, and has Numba
compile it: each element is read once, every step runs in registers, and the loop vectorises
because the transcendentals are the straight-line `vmath.vexp` (a libm call would stop it).

Loop shape. The output is viewed as (R, L), L the product of its trailing axes from some axis
k on, the largest L for which every input is one of:
  full    the output's shape (up to leading 1s): index [r, j];
  col     constant along the rows (a bias over the last axes): index [j];
  row     constant along the L axis (a per-channel bias over NCHW): index [r % period];
  scalar  one element, read once.
Each row is cut into chunks of CHUNK elements. Where the output shares memory with an input (a
group run in place), LLVM's run-time overlap check would fall back to its scalar loop, so the
chunk is computed into a private buffer and copied out; otherwise it is written directly.

The generated source depends only on the steps and the operand kinds, not the sizes; it is
loaded through kernels/generated.py, which keeps it on disk so that Numba's cache keeps the
machine code between runs.

Numerics: exp, ELU and erf go through `vmath.vexp` (about one float32 rounding, relative);
sigmoid, SiLU, tanh and the tanh-GELU through `vmath.vsigmoid`, a rational approximation with
an absolute error under 2.5e-7 (5e-7 for tanh), as ONNX Runtime's and Eigen's are: it is the
faster form, and the oracle judges error against the output's scale; erf uses the op table's
Abramowitz-Stegun formula. NaN and infinities come out where numpy puts them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from mlxa.kernels.generated import load
from mlxa.kernels.registry import Attrs, Site, register_kernel
from mlxa.ops.bound import Step
from mlxa.ops.table import get_op

F32 = np.dtype(np.float32)
CHUNK = 512  # floats per chunk: 2 KiB, the private buffer of an in-place group stays in L1
MIN_INNER = 8  # a shorter L axis gives too short a vector loop to pay for the call
ERF_P = 0.3275911  # Abramowitz & Stegun 7.1.26, as ops/elementwise.py
ERF_A = (1.061405429, -1.453152027, 1.421413741, -0.284496736, 0.254829592)
SQRT_2_OVER_PI = 0.7978845608028654


@dataclass(frozen=True)
class Operand:
    """How one input is indexed in the (R, L) loop: kind full, col, row or scalar; `period`:
    the row kind's index is r % period."""

    kind: str
    period: int = 1


def split(out_shape: Sequence[int], in_shapes: Sequence[Sequence[int]]
          ) -> tuple[int, tuple[Operand, ...]] | None:
    """(L, each input's Operand) for the largest inner length L that indexes every input as one
    of the four kinds; None when no split does (a broadcast along a middle axis only)."""
    nd = len(out_shape)
    padded = [(1,) * (nd - len(s)) + tuple(s) for s in in_shapes]
    if any(len(s) != nd for s in padded):
        return None
    for k in range(nd + 1):
        kinds = [_kind(tuple(out_shape), s, k) for s in padded]
        if all(kd is not None for kd in kinds):
            return math.prod(out_shape[k:]), tuple(kd for kd in kinds if kd is not None)
    return None


def _kind(out: tuple[int, ...], s: tuple[int, ...], k: int) -> Operand | None:
    if math.prod(s) == 1:
        return Operand("scalar")
    outer, inner = s[:k], s[k:]
    if inner == out[k:]:
        if all(d == 1 for d in outer):
            return Operand("col")
        return Operand("full") if outer == out[:k] else None
    if any(d != 1 for d in inner):
        return None
    first = next(i for i, d in enumerate(outer) if d != 1)
    if outer[first:] != out[first:k]:
        return None
    return Operand("row", math.prod(out[first:k]))


# -- one statement list per op ------------------------------------------------------------------

def _f(v: float) -> str:
    """A float32 constant in the generated source."""
    v = float(v)
    if math.isnan(v):
        return "F(np.nan)"
    if math.isinf(v):
        return "F(np.inf)" if v > 0 else "F(-np.inf)"
    return f"F({v!r})"


def _clamp(x: str, lo: float | None, hi: float | None, out: str) -> list[str]:
    lines = [f"{out} = {x}"]
    if lo is not None:
        lines.append(f"{out} = {_f(lo)} if {out} < {_f(lo)} else {out}")
    if hi is not None:
        lines.append(f"{out} = {_f(hi)} if {out} > {_f(hi)} else {out}")
    return lines


def _erf_abs(z: str, out: str) -> list[str]:
    """out = erf(z) for z >= 0 (z a variable)."""
    t, p = out + "t", out + "p"
    lines = [f"{t} = F(1.0) / (F(1.0) + {_f(ERF_P)} * {z})", f"{p} = {_f(ERF_A[0])} * {t}"]
    for a in ERF_A[1:]:
        lines.append(f"{p} = ({p} + {_f(a)}) * {t}")
    return lines + [f"{out} = F(1.0) - {p} * vexp_neg(-({z} * {z}))"]


def _emit(op: str, a: Sequence[str], at: Mapping[str, Any], o: str) -> list[str] | None:
    """Statements that set `o` to the step's value from the argument variables `a`; None when
    the op (or these attributes) has no loop form here."""
    x = a[0]
    simple = {
        "add": "{0} + {1}", "sub": "{0} - {1}", "mul": "{0} * {1}", "div": "{0} / {1}",
        "neg": "-{0}", "abs": "abs({0})", "sqrt": "np.sqrt({0})", "reciprocal": "F(1.0) / {0}",
        "relu": "F(0.0) if {0} < F(0.0) else {0}",
        "max": "{0} if ({0} >= {1} or {0} != {0}) else {1}",
        "min": "{0} if ({0} <= {1} or {0} != {0}) else {1}",
        "prelu": "{0} if {0} >= F(0.0) else {1} * {0}",
        "exp": "vexp({0})",
    }
    if op in simple:
        return [f"{o} = " + simple[op].format(*a)]
    if op == "sigmoid":
        return [f"{o} = vsigmoid({x})"]
    if op == "silu":
        return [f"{o} = {x} * vsigmoid({x})"]
    if op == "tanh":
        return [f"{o} = vtanh({x})"]
    if op == "clip":
        return _clamp(x, at.get("min"), at.get("max"), o)
    if op == "leaky_relu":
        return [f"{o} = {x} if {x} >= F(0.0) else {_f(at.get('alpha', 0.01))} * {x}"]
    if op == "hardsigmoid":
        return _clamp(f"{_f(at.get('alpha', 0.2))} * {x} + {_f(at.get('beta', 0.5))}",
                      0.0, 1.0, o)
    if op == "hardswish":
        return _clamp(f"{x} * {_f(1.0 / 6.0)} + F(0.5)", 0.0, 1.0, o + "h") + [f"{o} = {x} * {o}h"]
    if op in ("elu", "selu"):
        from mlxa.ops.activations import SELU_ALPHA, SELU_GAMMA

        selu = op == "selu"
        alpha = float(at.get("alpha", SELU_ALPHA if selu else 1.0))
        gamma = float(at.get("gamma", SELU_GAMMA)) if selu else 1.0
        return [f"{o} = {x} if {x} > F(0.0) else {_f(alpha)} * (vexp({x}) - F(1.0))"] + (
            [f"{o} = {_f(gamma)} * {o}"] if selu else [])
    if op == "gelu" and at.get("approximate", "none") == "tanh":
        # 0.5 u (1 + tanh z) = u sigmoid(2z)
        c0, c1 = 2.0 * SQRT_2_OVER_PI, 0.044715
        return [f"{o} = {x} * vsigmoid({_f(c0)} * ({x} + {_f(c1)} * {x} * {x} * {x}))"]
    if op == "gelu" and at.get("approximate", "none") == "none":
        z = o + "z"
        return ([f"{z} = abs({x}) * {_f(1.0 / math.sqrt(2.0))}"] + _erf_abs(z, o + "e")
                + [f"{o} = F(0.5) * ({x} + abs({x}) * {o}e)"])
    if op == "erf":
        z = o + "z"
        return ([f"{z} = abs({x})"] + _erf_abs(z, o + "e")
                + [f"{o} = {o}e if {x} >= F(0.0) else -{o}e"])
    return None


# -- the generated function ---------------------------------------------------------------------

Steps = tuple[tuple[str, tuple[int, ...], tuple[tuple[str, Any], ...]], ...]


def body(steps: Steps, inputs: Sequence[str]) -> list[str] | None:
    """The chain as statements on the input variables; the last sets `v`."""
    lines: list[str] = []
    prev = ""
    for n, (op, operands, items) in enumerate(steps):
        args = [prev if k < 0 else inputs[k] for k in operands]
        out = "v" if n == len(steps) - 1 else f"s{n}"
        emitted = _emit(op, args, MappingProxyType(dict(items)), out)
        if emitted is None:
            return None
        lines += emitted
        prev = out
    return lines


def source(steps: Steps, operands: Sequence[Operand]) -> str | None:
    """The Python source of `chain(o, tmp, direct, periods, *inputs)`; None when a step has
    no loop form."""
    names = [f"x{k}" for k in range(len(operands))]
    stmts = body(steps, names)
    if stmts is None:
        return None
    used = {k for _, ops, _ in steps for k in ops if k >= 0}
    head = [f"{n} = a{k}[0]" for k, n in enumerate(names)
            if k in used and operands[k].kind == "scalar"]
    per_row = []
    per_chunk = []
    loads = []
    for k, n in enumerate(names):
        kind = operands[k].kind
        if k not in used or kind == "scalar":
            continue
        if kind == "row":
            per_row.append(f"{n} = a{k}[r % periods[{k}]]")
        else:
            src = f"a{k}[r]" if kind == "full" else f"a{k}"
            per_chunk.append(f"y{k} = {src}[j0:j0 + m]")
            loads.append(f"{n} = y{k}[j]")

    def loop(target: str) -> list[str]:
        return ["for j in range(m):", *("    " + s for s in loads + stmts),
                f"    {target}[j] = v"]

    args = ", ".join(f"a{k}" for k in range(len(operands)))
    lines = ["@numba.njit(cache=CACHE, boundscheck=False, error_model='numpy', fastmath=FASTMATH)",
             f"def chain(o, tmp, direct, periods, {args}):",
             "    rows, cols = o.shape",
             "    size = tmp.shape[0]",
             *("    " + s for s in head),
             "    for r in range(rows):",
             *("        " + s for s in per_row),
             "        for j0 in range(0, cols, size):",
             "            m = min(size, cols - j0)",
             *("            " + s for s in per_chunk),
             "            dst = o[r, j0:j0 + m]",
             "            if direct:",
             *("                " + s for s in loop("dst")),
             "            else:",
             *("                " + s for s in loop("tmp")),
             "                for j in range(m):",
             "                    dst[j] = tmp[j]"]
    return "\n".join(lines) + "\n"


PRELUDE = ("import numba\nimport numpy as np\n"
           "from mlxa.kernels.vmath import F, FASTMATH, vexp, vexp_neg, vsigmoid, vtanh\n")


def compiled(src: str) -> Callable[..., None]:
    """The Numba function `chain` of `src` (kernels/generated.py: cached on disk)."""
    return load("chain", src, PRELUDE, "chain", Path(__file__).with_name("vmath.py").read_bytes())


# -- the registered kernel ----------------------------------------------------------------------

def plan(site: Site) -> tuple[int, tuple[Operand, ...]] | None:
    """The loop's (L, operands) for a fused node, or None when the kernel does not apply."""
    if site.epilogue is not None or len(site.outs) != 1:
        return None
    out = site.outs[0]
    if any(t.dtype != F32 for t in (*site.ins, out)) or math.prod(out.shape) == 0:
        return None
    layout = split(out.shape, [t.shape for t in site.ins])
    if layout is None or layout[0] < MIN_INNER:
        return None
    return layout if source(site.attrs["steps"], layout[1]) is not None else None


@register_kernel("fused", name="chain_loop", technique="numba",
                 applies=lambda site: plan(site) is not None, requires=("numba",))
def bind_chain(ins: Sequence[np.ndarray], outs: Sequence[np.ndarray], attrs: Attrs,
               workspace: np.ndarray | None) -> Step:
    """The fused chain as one generated Numba loop with a vectorised exp."""
    out = outs[0]
    layout = split(out.shape, [a.shape for a in ins])
    src = source(attrs["steps"], layout[1]) if layout is not None else None
    if layout is None or src is None or not all(a.flags.c_contiguous for a in (*ins, out)):
        return get_op("fused").bound(ins, outs, attrs, workspace)
    cols, operands = layout
    o = out.reshape(-1, cols)
    args = []
    for a, op in zip(ins, operands):
        flat = a.reshape(-1)
        args.append(flat.reshape(-1, cols) if op.kind == "full" else flat)
    direct = not any(np.shares_memory(out, a) for a in ins)
    periods = tuple(op.period for op in operands)
    return partial(compiled(src), o, np.empty(CHUNK, np.float32), direct, periods, *args)
