"""ONNX control flow: an `If` whose condition folds to a constant is replaced by the branch it
takes (exporters write these for shape checks); `Loop`, `Scan`, an `If` on a value of the model's
inputs and the sequence ops are refused, since the IR is one static list of nodes.

`fold_if` converts the taken branch's nodes in the enclosing scope (a branch reads outer values
by name; ONNX names are unique across a model and its subgraphs), through the importer's own
node converter, so a branch's nodes are checked and folded as any other node is.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from mlxa.errors import UnsupportedOpError
from mlxa.frontends.onnx_context import Converter, ImportContext, OnnxNode, Operand

LOOPS = ("Loop", "Scan")
SEQUENCE_OPS = ("SequenceConstruct", "SequenceEmpty", "SequenceAt", "SequenceInsert",
                "SequenceErase", "SequenceLength", "SplitToSequence", "ConcatFromSequence",
                "SequenceMap", "Optional", "OptionalGetElement", "OptionalHasElement")


def _if(ctx: ImportContext, node: OnnxNode) -> Sequence[Operand]:
    ctx.fail("If converts through fold_if, which needs the importer's scope")


CONVERTERS: dict[str, Converter] = {"If": _if}  # listed so that the importer accepts If


def refusal_note(unsupported: Sequence[str]) -> str:
    """Why the control-flow and sequence ops among `unsupported` ('Loop (name)', ...) are
    refused, as a sentence to append to the importer's list ('' when there are none)."""
    kinds = {entry.split(" (")[0].rsplit(".", 1)[-1] for entry in unsupported}
    if not kinds & set(LOOPS + SEQUENCE_OPS):
        return ""
    return (". Loop, Scan and sequence ops run a data-dependent number of steps over "
            "dynamic values; mlxa's IR is one static list of nodes (an If whose condition "
            "folds to a constant is imported as the branch it takes)")


def _branch_problems(branch: Any, supported: Callable[[Any], bool]) -> list[str]:
    from mlxa.frontends.onnx_validate import where

    return [where(n, i) for i, n in enumerate(branch.node) if not supported(n)]


def fold_if(ctx: ImportContext, node: OnnxNode, env: dict[str, Any],
            convert_node: Callable[[Any, int], None], read: Callable[[Any], np.ndarray],
            supported: Callable[[Any], bool]) -> list[Operand]:
    """The If's outputs: those of the branch its constant condition takes."""
    ctx.node = node  # errors name the If
    cond = node.arg(0)
    if not isinstance(cond, np.ndarray):
        ctx.fail("the condition depends on the model's inputs; only an If whose condition "
                 "folds to a constant is supported (the IR has no branches)")
    if cond.size != 1:
        ctx.fail(f"the condition should hold one element, it has shape {list(cond.shape)}")
    taken = "then_branch" if bool(cond.reshape(())) else "else_branch"
    branch = node.attr(taken)
    if branch is None:
        ctx.fail(f"{taken} is missing")
    problems = _branch_problems(branch, supported)
    if problems:
        raise UnsupportedOpError(f"{node.where}: its {taken} holds {len(problems)} unsupported "
                                 f"op(s): {', '.join(problems)}")
    _bind_initializers(branch, env, read)
    for index, sub in enumerate(branch.node):
        convert_node(sub, index)
    return [_branch_output(ctx, env, out.name, taken) for out in branch.output]


def _bind_initializers(branch: Any, env: dict[str, Any], read: Callable[[Any], np.ndarray]
                       ) -> None:
    for tensor in branch.initializer:
        env[tensor.name] = read(tensor)


def _branch_output(ctx: ImportContext, env: Mapping[str, Any], name: str, taken: str
                   ) -> Operand:
    if name not in env:
        ctx.fail(f"{taken} output {name!r} is computed by no node")
    return env[name]
