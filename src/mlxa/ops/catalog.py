"""The op table as documentation: `op_table_markdown()` renders every op of the table (name and
doc, grouped by the module that defines it) as the Markdown list the README shows, so the README
can be checked against the table (tests/test_op_catalog.py) instead of drifting from it."""

from __future__ import annotations

from mlxa.ops.table import OPS, OpDef

# the module that registers an op -> the heading its ops go under, in README order
FAMILIES = {
    "elementwise": "Elementwise (fusable)", "activations": "Elementwise (fusable)",
    "logic": "Comparisons, logic, casts", "linalg": "Linear algebra", "conv": "Convolution",
    "pool": "Pooling", "nn": "Normalisation and softmax",
    "local_norm": "Normalisation and softmax",
    "reduce": "Reductions", "shape": "Shape", "indexing": "Indexing",
    "along_axis": "Indexing", "scatter": "Indexing", "quant": "Quantized (8-bit)",
    "conv_cl": "Channels-last layouts", "pool_cl": "Channels-last layouts",
    "layouts": "Channels-last layouts", "fused": "Compiler-made",
}
OTHER = "Other"


def family_of(op: OpDef) -> str:
    module = op.kernel.__module__.rsplit(".", 1)[-1]
    return FAMILIES.get(module, OTHER)


def op_table_markdown() -> str:
    """One line per op, `- \\`name\\`: doc`, under a heading per family; sorted, so the text
    changes only when the table does."""
    groups: dict[str, list[str]] = {}
    for name in sorted(OPS):
        op = OPS[name]
        doc = " ".join(op.doc.split())
        groups.setdefault(family_of(op), []).append(f"- `{name}`: {doc}")
    order = list(dict.fromkeys(list(FAMILIES.values()) + [OTHER]))
    parts = [f"**{family}** ({len(groups[family])})\n\n" + "\n".join(groups[family])
             for family in order if family in groups]
    return f"The op table holds {len(OPS)} ops.\n\n" + "\n\n".join(parts) + "\n"


if __name__ == "__main__":  # python -m mlxa.ops.catalog: the list to paste into the README
    print(op_table_markdown(), end="")
