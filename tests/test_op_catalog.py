"""The README's op lists are the tables themselves: the op table (mlxa.ops.catalog) and the ONNX
and ATen converter tables (mlxa.frontends.op_lists), each between its markers. Regenerate with
`python -m mlxa.ops.catalog` and `python -m mlxa.frontends.op_lists`."""

from __future__ import annotations

import re

import pytest
from cli_helpers import ROOT

from mlxa.frontends.op_lists import aten_ops_markdown, onnx_ops_markdown
from mlxa.ops import OPS
from mlxa.ops.catalog import op_table_markdown

BLOCKS = {"op-table": op_table_markdown, "onnx-ops": onnx_ops_markdown,
          "aten-ops": aten_ops_markdown}


def document() -> tuple[str, str]:
    return "README.md", (ROOT / "README.md").read_text()


def block(text: str, name: str) -> str:
    found = re.search(rf"<!-- generated: {name} -->\n(.*?)<!-- end: {name} -->", text, re.S)
    assert found, f"no <!-- generated: {name} --> block"
    return found.group(1)


@pytest.mark.parametrize("name", sorted(BLOCKS))
def test_the_documented_list_is_the_table(name: str) -> None:
    where, text = document()
    assert block(text, name) == BLOCKS[name](), (
        f"{where}'s {name} list differs from the table: regenerate it")


def test_every_op_of_the_table_is_listed_once() -> None:
    listed = re.findall(r"^- `([^`]+)`:", op_table_markdown(), re.M)
    assert sorted(listed) == sorted(OPS)
