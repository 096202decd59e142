"""Pruning and the sparse kernels: levels exact, 2:4 and block patterns hold, channel pruning
removes what the mask zeroes (same outputs, fewer FLOPs), sparse products equal dense ones, the
break-even search on synthetic costs, and the study's renderers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mlxa.compiler import CompileOptions
from mlxa.errors import UserInputError
from mlxa.models.zoo import build
from mlxa.oracle import check
from mlxa.passes.prune_channels import prune_channels, zero_channels
from mlxa.passes.sparsify import BLOCK_ROWS, SparsifySpec, as_matrix, layers, prune_report, sparsify
from mlxa.runtime.compiled import compile_model
from mlxa.runtime.eager import EagerModel
from mlxa.studies.sparse_kernels import BlockSparse, break_even, csr_call, pruned_weight
from mlxa.studies.sparsity import graph_flops

SMALL = {"resnet18": {"image": 32, "width": 16}, "mobilenet_v2": {"image": 32, "width_mult": 0.5},
         "small_cnn": {"image": 12}, "digits_cnn": {}}


def _input(graph):
    return np.random.default_rng(0).standard_normal(graph.inputs[0].shape).astype(np.float32)


@pytest.mark.parametrize("level", [0.5, 0.6, 0.7, 0.8, 0.9, 0.95])
def test_unstructured_level_is_exact_per_layer(level) -> None:
    graph = build("resnet18", **SMALL["resnet18"])
    for row in prune_report(sparsify(graph, SparsifySpec("unstructured", level)), graph):
        assert row.zeros == round(level * row.weights) and row.pruned
        assert row.skippable_flops <= row.flops


def test_two_four_pattern_holds() -> None:
    graph = build("resnet18", **SMALL["resnet18"])
    pruned = sparsify(graph, SparsifySpec("2:4", 0.5))
    for _, node in layers(pruned):
        w = as_matrix(node, np.asarray(pruned.params[node.inputs[1]]))
        if w.shape[1] % 4:
            np.testing.assert_array_equal(w, as_matrix(node, graph.params[node.inputs[1]]))
            continue
        nonzero = np.count_nonzero(w.reshape(w.shape[0], -1, 4), axis=2)
        assert nonzero.max() <= 2 and (w == 0).sum() == w.size // 2


@pytest.mark.parametrize("level", [0.5, 0.9])
def test_block_pattern_zeroes_whole_column_segments(level) -> None:
    w = pruned_weight((64, 40), 1.0 - level, "block", np.random.default_rng(2))
    blocks = w.reshape(64 // BLOCK_ROWS, BLOCK_ROWS, 40)
    zero_blocks = np.all(blocks == 0, axis=1)
    assert np.all(np.any(blocks != 0, axis=1) | zero_blocks)
    assert zero_blocks.sum() == round(level * zero_blocks.size)


def test_spec_refuses_bad_levels_and_patterns() -> None:
    for args in (("unstructured", 1.0), ("2:4", 0.7), ("diagonal", 0.5), ("block", -0.1)):
        with pytest.raises(UserInputError):
            SparsifySpec(*args)


@pytest.mark.parametrize("name", list(SMALL))
def test_channel_pruning_removes_what_the_mask_zeroes(name) -> None:
    graph = build(name, batch=2, **SMALL[name])
    x = _input(graph)
    masked, small = zero_channels(graph, 0.5), prune_channels(graph, 0.5)
    assert check(masked, [x], EagerModel(masked)(x), EagerModel(small)(x)).passed
    assert graph_flops(small) < 0.5 * graph_flops(graph)
    removed = (sum(a.size for a in masked.params.values())
               - sum(a.size for a in small.params.values()))
    zeros = sum(int(a.size - np.count_nonzero(a)) for a in masked.params.values())
    assert 0 < removed <= zeros  # every removed weight was zero in the mask form


def test_channel_groups_keep_residual_sums_aligned() -> None:
    """ResNet: every conv writing into one residual stream keeps the same channel count, and
    round(level * C) channels go from each free group."""
    graph = build("resnet18", **SMALL["resnet18"])
    small = prune_channels(graph, 0.75)
    for node in small.nodes:
        if node.op == "add":
            assert node.inputs[0].shape == node.inputs[1].shape
    widths = {n.outputs[0].shape[1] for n in small.nodes if n.op == "conv"}
    assert widths == {4, 8, 16, 32}  # 16, 32, 64, 128 channels less 75%


def test_compiled_channel_pruning_in_the_pipeline() -> None:
    graph = build("mobilenet_v2", **SMALL["mobilenet_v2"])
    x = _input(graph)
    masked = zero_channels(graph, 0.5)
    options = CompileOptions(sparsify=SparsifySpec("channel", 0.5), verify=True)
    compiled = compile_model(graph, options)
    assert check(masked, [x], EagerModel(masked)(x), [a.copy() for a in compiled(x)]).passed


def test_sparse_products_equal_the_dense_one() -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((40, 7)).astype(np.float32)
    for pattern, density in (("block", 0.3), ("block", 0.0), ("unstructured", 0.2)):
        w = pruned_weight((32, 40), density, pattern, rng)
        np.testing.assert_allclose(BlockSparse.of(w).call(x)(), w @ x, rtol=1e-5, atol=1e-5)
    pytest.importorskip("scipy")
    call = csr_call(w, x)
    assert call is not None
    np.testing.assert_allclose(call(), w @ x, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("crossing", [0.03, 0.2, 0.45, 0.8])
def test_break_even_finds_the_crossing_of_a_synthetic_cost(crossing) -> None:
    found, probes = break_even(lambda d: d / crossing)
    assert abs(np.log(found / crossing)) < 0.25
    assert len(probes) == 8


def test_break_even_is_monotone_in_the_cost() -> None:
    """A kernel that is slower at every density breaks even at a lower density."""
    found = [break_even(lambda d, c=c: c * (0.1 + d))[0] for c in (1.5, 2.0, 3.0, 5.0)]
    assert found == sorted(found, reverse=True)
    assert break_even(lambda d: 0.5)[0] == 1.0  # always wins
    assert break_even(lambda d: 2.0)[0] == 0.01  # never does


def test_sparsity_renderers_round_trip() -> None:
    from mlxa.report.sparsity_plot import sparsity_png
    from mlxa.report.sparsity_text import load_json, render_json, render_text
    from mlxa.studies import sparsity as s
    from mlxa.studies.sparse_kernels import Probe

    graph = build("digits_cnn")
    result = s.SparsityResult(
        "digits_cnn", 8, 1, 1, s.level_rows(graph), s.layer_tables(graph, 0.9),
        (s.BreakEven((32, 144, 16), ("conv2",), 0.01, 0.2, None, (Probe(1.0, 3.0),), ()),),
        (s.RuntimeZeros("ort", 1.0, 1.01, 0.99),), 0.9,
        s.ChannelPruning("digits_cnn", 0.5, 100, 30, 10, 4, (2.0, 1.0), (1.5, 0.5), True),
        0.98, (s.AccuracyPoint("unstructured", 0.5, 0.5, 0.95),), {"cpu": "x"}, ())
    assert load_json(json.loads(render_json(result))) == result
    text = render_text(result)
    assert "speedup 2.00x" in text and "break-even" in text
    assert sparsity_png(result)[:4] == b"\x89PNG"


def test_cli_refuses_bad_input_in_one_line(capsys) -> None:
    from mlxa.cli.main import main

    assert main(["sparsity", "--model", "vgg"]) == 2
    assert main(["sparsity", "--level", "1.5"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 2 and err.startswith("mlxa: error:")
