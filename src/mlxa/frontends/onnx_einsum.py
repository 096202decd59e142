"""ONNX Einsum of one or two operands as IR ops: labels only one operand has and the output
lacks are summed first; two operands then become one batched matmul,
[batch, kept-by-A, contracted] @ [batch, contracted, kept-by-B], between transposes and reshapes,
and the result is put in the output's label order. Ellipses are expanded to letters; a label
repeated within one operand (a diagonal) is refused, as are three or more operands (unless all
are constants: then numpy folds it).
"""

from __future__ import annotations

import math
import string
from collections.abc import Sequence

import numpy as np

from mlxa.frontends.onnx_context import Converter, ImportContext, OnnxNode, Operand, registrar

CONVERTERS: dict[str, Converter] = {}
converts = registrar(CONVERTERS)


def parse(equation: str, ranks: Sequence[int]) -> tuple[list[str], str]:
    """(the operands' labels, the output's labels), ellipses expanded, implicit output made."""
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(ranks):
        raise ValueError(f"{len(terms)} terms for {len(ranks)} operands")
    spare = [c for c in string.ascii_letters if c not in eq]
    width = max([r - len(t.replace("...", "")) for t, r in zip(terms, ranks)] + [0])
    dots = "".join(spare[:width])
    labels = [t.replace("...", dots[len(dots) - (r - len(t.replace("...", ""))):]
                        if "..." in t else "") for t, r in zip(terms, ranks)]
    if arrow:
        out = rhs.replace("...", dots)
    else:
        counts = {c: "".join(labels).count(c) for c in "".join(labels)}
        out = dots + "".join(sorted(c for c, n in counts.items() if n == 1 and c not in dots))
    for t, r in zip(labels, ranks):
        if len(t) != r:
            raise ValueError(f"term {t!r} does not match a rank-{r} operand")
    return labels, out


def _sum_alone(ctx: ImportContext, x: Operand, labels: str, keep: str) -> tuple[Operand, str]:
    """Sum away the labels that appear nowhere in `keep`."""
    gone = tuple(k for k, c in enumerate(labels) if c not in keep)
    if not gone:
        return x, labels
    return (ctx.op("reduce_sum", x, axes=gone, keepdims=0),
            "".join(c for c in labels if c not in gone and c in keep))


def _arranged(ctx: ImportContext, x: Operand, labels: str, order: str) -> Operand:
    perm = tuple(labels.index(c) for c in order)
    return x if perm == tuple(range(len(perm))) else ctx.op("transpose", x, perm=perm)


@converts("Einsum")
def _einsum(ctx: ImportContext, node: OnnxNode) -> Sequence[Operand]:
    operands = node.present()
    equation = str(node.attr("equation", ""))
    arrays = [x for x in operands if isinstance(x, np.ndarray)]
    if len(arrays) == len(operands):
        ctx.check_fits("folding Einsum", sum(x.nbytes for x in arrays) * 4)
        return [np.asarray(np.einsum(equation, *arrays))]
    try:
        labels, out = parse(equation, [len(x.shape) for x in operands])
    except ValueError as e:
        ctx.fail(f"equation {equation!r}: {e}")
    if any(len(set(t)) != len(t) for t in labels) or len(operands) > 2:
        ctx.fail(f"equation {equation!r}: repeated labels in one operand, or more than two "
                 "operands, are not supported")
    if len(operands) == 1:
        x, have = _sum_alone(ctx, operands[0], labels[0], out)
        return [_arranged(ctx, x, have, out)]
    return [_pair(ctx, operands, labels, out)]


def _pair(ctx: ImportContext, operands: Sequence[Operand], labels: list[str], out: str
          ) -> Operand:
    (a, b), (la, lb) = operands, labels
    a, la = _sum_alone(ctx, a, la, lb + out)
    b, lb = _sum_alone(ctx, b, lb, la + out)
    size = {c: int(d) for t, x in ((la, a), (lb, b)) for c, d in zip(t, x.shape)}
    for c in set(la) & set(lb):
        if int(a.shape[la.index(c)]) != int(b.shape[lb.index(c)]):
            ctx.fail(f"label {c!r} has sizes {a.shape[la.index(c)]} and "
                     f"{b.shape[lb.index(c)]} (broadcasting is not supported)")
    batch = "".join(c for c in out if c in la and c in lb)
    keep_a = "".join(c for c in la if c in out and c not in lb)
    keep_b = "".join(c for c in lb if c in out and c not in la)
    inner = "".join(c for c in la if c in lb and c not in out)
    dims = [math.prod(size[c] for c in part) for part in (batch, keep_a, inner, keep_b)]
    a3 = ctx.op("reshape", _arranged(ctx, a, la, batch + keep_a + inner),
                shape=(dims[0], dims[1], dims[2]))
    b3 = ctx.op("reshape", _arranged(ctx, b, lb, batch + inner + keep_b),
                shape=(dims[0], dims[2], dims[3]))
    y = ctx.op("matmul", a3, b3)
    have = batch + keep_a + keep_b
    y = ctx.op("reshape", y, shape=tuple(size[c] for c in have))
    return _arranged(ctx, y, have, out)
