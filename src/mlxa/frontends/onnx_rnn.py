"""ONNX LSTM, GRU and RNN unrolled over their static sequence length into IR ops: the input
projection of every step is one matmul up front ([S, B, I] @ [I, G*H]); each step then adds the
recurrent matmul, splits the gates and applies their activations, the steps' states concatenated
into Y. Forward, reverse and bidirectional; layout 0 and 1.

Refused: activations other than the defaults (Sigmoid, Tanh, Tanh), clip, LSTM's
input_forget=1, and a sequence_lens other than the full length for every sequence.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from mlxa.frontends.onnx_context import (
    Converter,
    ImportContext,
    OnnxNode,
    Operand,
    choice,
    registrar,
)

CONVERTERS: dict[str, Converter] = {}
converts = registrar(CONVERTERS)
GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}
DEFAULT_ACTIVATIONS = {"LSTM": ["Sigmoid", "Tanh", "Tanh"], "GRU": ["Sigmoid", "Tanh"],
                       "RNN": ["Tanh"]}
Cell = Callable[[ImportContext, Operand, list[Operand], dict[str, Any]], list[Operand]]


def _checked(ctx: ImportContext, node: OnnxNode) -> tuple[int, int, int, int, int]:
    """(seq, batch, hidden, directions, layout) after refusing what is not supported."""
    op = node.op_type
    acts = node.attr("activations")
    n_dirs = 2 if node.attr("direction", "forward") == "bidirectional" else 1
    choice(ctx, node, "direction", "forward", ("forward", "reverse", "bidirectional"))
    if acts is not None and [a.lower() for a in acts] != [
            a.lower() for a in DEFAULT_ACTIVATIONS[op] * n_dirs]:
        ctx.fail(f"activations {list(acts)} are not supported (only the defaults)")
    if node.attr("clip") is not None or node.attr("input_forget", 0):
        ctx.fail("clip and input_forget are not supported")
    layout = int(node.attr("layout", 0))
    x = node.arg(0)
    seq, batch = (x.shape[0], x.shape[1]) if layout == 0 else (x.shape[1], x.shape[0])
    hidden = int(node.attr("hidden_size") or node.arg(2).shape[-1])
    lens = ctx.const(4, "sequence_lens")
    if lens is not None and np.any(lens != seq):
        ctx.fail("sequence_lens shorter than the sequence is not supported")
    return int(seq), int(batch), hidden, n_dirs, layout


def _per_direction(ctx: ImportContext, v: Operand | None, d: int) -> Operand | None:
    """Direction d's slice of a [dirs, ...] operand, the dirs axis dropped."""
    return None if v is None else _direction_of(ctx, v, d)


def _direction_of(ctx: ImportContext, v: Operand, d: int) -> Operand:
    part = ctx.op("slice", v, starts=(d,), ends=(d + 1,), axes=(0,), steps=(1,))
    return ctx.op("squeeze", part, axes=(0,))


def _dirs_first(ctx: ImportContext, v: Operand | None, layout: int) -> Operand | None:
    """An initial state as [dirs, batch, hidden] (layout 1 gives [batch, dirs, hidden])."""
    return v if v is None or layout == 0 else ctx.op("transpose", v, perm=(1, 0, 2))


def _transposed(ctx: ImportContext, w: Operand) -> Operand:
    return ctx.op("transpose", w, perm=(1, 0))


@converts("LSTM", "GRU", "RNN")
def _recurrent(ctx: ImportContext, node: OnnxNode) -> Sequence[Operand]:
    seq, batch, hidden, n_dirs, layout = _checked(ctx, node)
    x = node.arg(0) if layout == 0 else ctx.op("transpose", node.arg(0), perm=(1, 0, 2))
    direction = node.attr("direction", "forward")
    ys: list[Operand] = []
    hs: list[Operand] = []
    cs: list[Operand] = []
    for d in range(n_dirs):
        reverse = direction == "reverse" or d == 1
        y, h, c = _direction(ctx, node, x, d, reverse, (seq, batch, hidden, layout))
        ys.append(ctx.op("unsqueeze", y, axes=(1,)))
        hs.append(ctx.op("unsqueeze", h, axes=(0,)))
        if c is not None:
            cs.append(ctx.op("unsqueeze", c, axes=(0,)))
    y = ys[0] if n_dirs == 1 else ctx.op("concat", *ys, axis=1)  # [S, dirs, B, H]
    y_h = hs[0] if n_dirs == 1 else ctx.op("concat", *hs, axis=0)
    outs = [y, y_h]
    if node.op_type == "LSTM":
        outs.append(cs[0] if n_dirs == 1 else ctx.op("concat", *cs, axis=0))
    if layout == 1:
        outs = [ctx.op("transpose", outs[0], perm=(2, 0, 1, 3))] + [
            ctx.op("transpose", o, perm=(1, 0, 2)) for o in outs[1:]]
    return outs


def _direction(ctx: ImportContext, node: OnnxNode, x: Operand, d: int, reverse: bool,
               sizes: tuple[int, int, int, int]) -> tuple[Operand, Operand, Operand | None]:
    seq, batch, hidden, layout = sizes
    gates = GATES[node.op_type]
    w, r = _direction_of(ctx, node.arg(1), d), _direction_of(ctx, node.arg(2), d)
    b = _per_direction(ctx, node.input(3), d)
    dtype = np.dtype(x.dtype)
    wb: Operand = np.zeros(gates * hidden, dtype)
    rb: Operand = wb
    if b is not None:
        wb = ctx.op("slice", b, starts=(0,), ends=(gates * hidden,), axes=(0,), steps=(1,))
        rb = ctx.op("slice", b, starts=(gates * hidden,), ends=(2 * gates * hidden,), axes=(0,),
                    steps=(1,))
    projected = ctx.op("add", ctx.op("matmul", x, _transposed(ctx, w)), wb)  # [S, B, G*H]
    initial = [_per_direction(ctx, _dirs_first(ctx, node.input(k), layout), d) for k in (5, 6)]
    zeros = np.zeros((batch, hidden), dtype)
    state: dict[str, Any] = {"h": initial[0] if initial[0] is not None else zeros,
             "c": initial[1] if initial[1] is not None else zeros,
             "rt": _transposed(ctx, r), "rb": rb, "hidden": hidden,
             "p": _per_direction(ctx, node.input(7), d),
             "linear_before_reset": int(node.attr("linear_before_reset", 0))}
    steps: list[Any] = [None] * seq
    for t in (range(seq - 1, -1, -1) if reverse else range(seq)):
        xt = ctx.op("squeeze", ctx.op("slice", projected, starts=(t,), ends=(t + 1,), axes=(0,),
                                      steps=(1,)), axes=(0,))
        state["h"], state["c"] = CELLS[node.op_type](ctx, xt, [state["h"], state["c"]], state)
        steps[t] = ctx.op("unsqueeze", state["h"], axes=(0,))
    y = steps[0] if seq == 1 else ctx.op("concat", *steps, axis=0)
    return y, state["h"], state["c"] if node.op_type == "LSTM" else None


def _gate_parts(ctx: ImportContext, v: Operand, n: int, hidden: int) -> list[Operand]:
    return list(ctx.op_multi("split", v, axis=1, sizes=(hidden,) * n)) if n > 1 else [v]


def _lstm(ctx: ImportContext, xt: Operand, hc: list[Operand], s: dict[str, Any]
          ) -> list[Operand]:
    h, c = hc
    g = ctx.op("add", ctx.op("add", xt, ctx.op("matmul", h, s["rt"])), s["rb"])
    i, o, f, cand = _gate_parts(ctx, g, 4, s["hidden"])
    p = s["p"]
    if p is not None:
        pi, po, pf = (ctx.op("slice", p, starts=(k * s["hidden"],), ends=((k + 1) * s["hidden"],),
                             axes=(0,), steps=(1,)) for k in range(3))
        i, f = ctx.op("add", i, ctx.op("mul", pi, c)), ctx.op("add", f, ctx.op("mul", pf, c))
    c = ctx.op("add", ctx.op("mul", ctx.op("sigmoid", f), c),
               ctx.op("mul", ctx.op("sigmoid", i), ctx.op("tanh", cand)))
    if p is not None:
        o = ctx.op("add", o, ctx.op("mul", po, c))
    return [ctx.op("mul", ctx.op("sigmoid", o), ctx.op("tanh", c)), c]


def _gru(ctx: ImportContext, xt: Operand, hc: list[Operand], s: dict[str, Any]) -> list[Operand]:
    h, hidden = hc[0], s["hidden"]
    xz, xr, xh = _gate_parts(ctx, xt, 3, hidden)
    hr = ctx.op("add", ctx.op("matmul", h, s["rt"]), s["rb"])  # [B, 3H], recurrent bias in
    hz, hrr, hh = _gate_parts(ctx, hr, 3, hidden)
    z = ctx.op("sigmoid", ctx.op("add", xz, hz))
    r = ctx.op("sigmoid", ctx.op("add", xr, hrr))
    if s["linear_before_reset"]:
        cand = ctx.op("tanh", ctx.op("add", xh, ctx.op("mul", r, hh)))
    else:  # (r h) Rh^T + Rbh: the recurrent product redone on the reset state
        rt_h = ctx.op("slice", s["rt"], starts=(2 * hidden,), ends=(3 * hidden,), axes=(1,),
                      steps=(1,))
        rb_h = ctx.op("slice", s["rb"], starts=(2 * hidden,), ends=(3 * hidden,), axes=(0,),
                      steps=(1,))
        cand = ctx.op("tanh", ctx.op("add", xh, ctx.op("add", ctx.op(
            "matmul", ctx.op("mul", r, h), rt_h), rb_h)))
    one_minus_z = ctx.op("sub", np.ones((), np.dtype(h.dtype)), z)
    return [ctx.op("add", ctx.op("mul", one_minus_z, cand), ctx.op("mul", z, h)), hc[1]]


def _rnn(ctx: ImportContext, xt: Operand, hc: list[Operand], s: dict[str, Any]) -> list[Operand]:
    h = ctx.op("tanh", ctx.op("add", ctx.op("add", xt, ctx.op("matmul", hc[0], s["rt"])),
                              s["rb"]))
    return [h, hc[1]]


CELLS: dict[str, Cell] = {"LSTM": _lstm, "GRU": _gru, "RNN": _rnn}
