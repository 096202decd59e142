"""What the importers accept, as the Markdown lists the README shows: the ONNX op types (default
domain and ai.onnx.ml) and the ATen ops, read from the converter tables themselves, so the README
is checked against them (tests/test_op_catalog.py). Importing this imports neither onnx nor
torch: the tables are plain dicts."""

from __future__ import annotations


def onnx_ops_markdown() -> str:
    from mlxa.frontends.onnx_ml import ML_CONVERTERS
    from mlxa.frontends.onnx_ops import CONVERTERS

    default = ", ".join(f"`{op}`" for op in sorted(CONVERTERS))
    ml = ", ".join(f"`{op}`" for op in sorted(ML_CONVERTERS))
    return (f"ONNX, default domain ({len(CONVERTERS)}): {default}.\n\n"
            f"ONNX, ai.onnx.ml ({len(ML_CONVERTERS)}): {ml}.\n")


def aten_ops_markdown() -> str:
    from mlxa.frontends import torch_aten_layout, torch_aten_logic, torch_aten_nn  # noqa: F401
    from mlxa.frontends.torch_aten import CONVERTERS

    names = sorted(key.split(".", 1)[1] for key in CONVERTERS)
    return f"ATen ({len(names)}): " + ", ".join(f"`{n}`" for n in names) + ".\n"


if __name__ == "__main__":  # python -m mlxa.frontends.op_lists: the lists for the README
    print(onnx_ops_markdown() + "\n" + aten_ops_markdown(), end="")
