"""The printed IR, one line per node, the thing people read:

    %5: f32[32,4096] = matmul %0, %1          # 512 KiB  live [0,2)  @arena+0

Values are numbered when printed (inputs, then parameters, then node outputs in program order),
so the text is stable and golden tests can compare it. Analysis results, when given, are aligned
trailing comments: lifetimes, placements (arena offsets) and fusion groups.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlxa.analysis.lifetimes import Lifetimes
from mlxa.ir.graph import Graph, Node, Value
from mlxa.units import format_nbytes


def format_graph(graph: Graph, lifetimes: Lifetimes | None = None,
                 placement: Mapping[Value, str] | None = None,
                 groups: Mapping[int, int] | None = None) -> str:
    names = _names(graph)
    sig = ", ".join(f"{names[v]}: {v.type}" for v in graph.inputs)
    lines = [f"graph {graph.name}({sig}) {{"]
    rows: list[tuple[str, str]] = []
    for v in graph.params:
        rows.append((f"{names[v]}: {v.type} = param", format_nbytes(v.nbytes)))
    for i, node in enumerate(graph.nodes):
        rows.append((_node_text(node, names), _notes(i, node, lifetimes, placement, groups)))
    width = max((len(text) for text, _ in rows), default=0)
    lines += [f"  {text.ljust(width)}  # {note}" if note else f"  {text}" for text, note in rows]
    lines.append("  return " + ", ".join(names[v] for v in graph.outputs))
    lines.append("}")
    return "\n".join(lines)


def _names(graph: Graph) -> dict[Value, str]:
    order = list(graph.inputs) + list(graph.params)
    order += [v for n in graph.nodes for v in n.outputs]
    return {v: f"%{i}" for i, v in enumerate(order)}


def _node_text(node: Node, names: Mapping[Value, str]) -> str:
    outs = ", ".join(f"{names[v]}: {v.type}" for v in node.outputs)
    args = ", ".join(names.get(v, "?") for v in node.inputs)
    return f"{outs} = {_op_text(node.op, node.attrs)} {args}"


def _op_text(op: str, attrs: Mapping[str, Any]) -> str:
    if op == "fused":
        steps = [_op_text(name, dict(items)) + "(" + ",".join(
            "_" if k < 0 else f"#{k}" for k in operands) + ")"
            for name, operands, items in attrs["steps"]]
        return "fused{" + " > ".join(steps) + "}"
    shown = {k: v for k, v in attrs.items() if not k.startswith("_")}
    if not shown:
        return op
    return op + "[" + ",".join(f"{k}={_attr_text(v)}" for k, v in sorted(shown.items())) + "]"


def _attr_text(value: Any) -> str:
    if isinstance(value, (tuple, list)):
        return "(" + ",".join(_attr_text(v) for v in value) + ")"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _notes(i: int, node: Node, lifetimes: Lifetimes | None,
           placement: Mapping[Value, str] | None, groups: Mapping[int, int] | None) -> str:
    out = node.outputs[0]
    notes = [format_nbytes(sum(v.nbytes for v in node.outputs))]
    if lifetimes is not None and out in lifetimes.intervals:
        s, e = lifetimes.intervals[out]
        notes.append(f"live [{s},{e})")
    if placement is not None and out in placement:
        notes.append(placement[out])
    if groups is not None and i in groups:
        notes.append(f"group {groups[i]}")
    return "  ".join(notes)
