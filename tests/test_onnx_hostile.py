"""Hostile ONNX files through `mlxa analyze`, in-process: every one ends with exit 0, 1 or 2, never
3; a refusal is one line on stderr naming the problem; nothing hangs or allocates what the memory
budget does not allow; and what succeeds, ONNX Runtime and the checker accept too.

The cases: hand-built graphs for each kind of attack (memory bombs, FIFOs, wrong answers,
tracebacks), seeded mutations of the exported zoo (byte flips, truncations, changed protobuf
fields), and, drawn by hypothesis and compared with ONNX Runtime, window ops, folded constants
and single ops with hostile attributes. Seeded and deterministic; about a minute on one core.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
hypothesis = pytest.importorskip("hypothesis")

from onnx_mutations import (
    F32,
    HOSTILE,
    I64,
    analyze,
    const,
    make_model,
    one_op,
    ort_rejects,
    saved,
    sweep,
    time_limit,
    vinfo,
    zoo_model,
)

from mlxa.errors import MlxaError

st = hypothesis.strategies
BUDGET_NBYTES = 1 << 30  # the memory budget every case runs under
PEAK_RSS_NBYTES = 3 << 30  # the bombs ask for 4 GiB and more: none may have been allocated


def peak_rss_nbytes() -> int:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # (KiB on Linux)


@pytest.fixture(autouse=True)
def budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLXA_MEMORY_BUDGET", str(BUDGET_NBYTES))


@pytest.fixture
def no_hang() -> Iterator[None]:
    """A case that blocks for 30 s fails instead of hanging the suite."""
    with time_limit(30):
        yield


def assert_refused(outcome, needle: str) -> None:  # type: ignore[no-untyped-def]
    assert outcome.code == 2, outcome
    lines = outcome.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mlxa: error: "), outcome.stderr
    assert needle.lower() in lines[0].lower(), (needle, lines[0])


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hand_built_hostile_model_is_refused_in_one_line(tmp_path, no_hang, case) -> None:
    build, needle = HOSTILE[case]
    path = build(tmp_path)
    outcome = analyze(path, tmp_path / "out")
    assert_refused(outcome, needle)
    assert peak_rss_nbytes() < PEAK_RSS_NBYTES  # a memory bomb was refused, not allocated
    if case != "gather_runtime_out_of_range":  # (found while running, not while reading)
        assert str(path) in outcome.stderr  # named by its path, not only its base name
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_errors_name_the_path_as_typed(tmp_path, monkeypatch) -> None:
    """Every zoo folder holds a model.onnx: the error says which, as the user typed it."""
    for name in ("a", "b"):
        (tmp_path / "zoo" / name).mkdir(parents=True)
    build, _ = HOSTILE["gelu_bogus"]
    build(tmp_path / "zoo" / "b")
    monkeypatch.chdir(tmp_path)
    outcome = analyze(Path("zoo/b/model.onnx"), Path("out"))
    assert_refused(outcome, "zoo/b/model.onnx: Gelu (gelu_n)")


@pytest.mark.parametrize("kind", ["fifo", "directory", "device"])
def test_model_paths_that_are_not_regular_files(tmp_path, no_hang, kind) -> None:
    path = tmp_path / "model.onnx"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "directory":
        path.mkdir()
    else:
        path = Path("/dev/zero")
    assert_refused(analyze(path, tmp_path / "out"), "not a regular file")


def test_names_with_control_characters_stay_on_one_line(tmp_path) -> None:
    model = one_op("Relu", [4], {}, ["x"])
    model.graph.node[0].op_type = "Bogus\nSpeedup: 1000x"
    model.graph.node[0].name = "evil\r\x1b[31m"
    outcome = analyze(saved(model, tmp_path), tmp_path / "out")
    assert_refused(outcome, r"Bogus\nSpeedup: 1000x (evil\r\x1b[31m)")


def test_zoo_models_are_accepted_by_us_and_onnxruntime(tmp_path) -> None:
    """The sweep's starting points: each base model succeeds, so refusals are the mutations'."""
    for name in ("small_cnn", "transformer"):
        data = zoo_model(name).SerializeToString()
        path = tmp_path / name / "model.onnx"
        path.parent.mkdir()
        path.write_bytes(data)
        assert analyze(path, tmp_path / name / "out").code == 0
        assert ort_rejects(data) == ""


def test_mutated_zoo_sweep(tmp_path) -> None:
    """Seeded mutants of the exported zoo: no failure, and at most 1% of the successes on models
    that ONNX Runtime or the checker refuse."""
    result = sweep(600, seed=8, folder=tmp_path)
    print(result.summary())
    assert result.failures == [], "\n".join(result.failures)
    assert len(result.bad_successes) <= 0.01 * max(result.succeeded, 1), \
        "\n".join(result.bad_successes)
    assert result.refused > 0 and result.succeeded > 0


# -- window ops drawn by hypothesis, against ONNX Runtime ---------------------------------------

@st.composite
def window_models(draw):  # type: ignore[no-untyped-def]
    """A Conv, MaxPool or AveragePool model with drawn (often invalid) attributes."""
    op = draw(st.sampled_from(["Conv", "MaxPool", "AveragePool"]))
    size = draw(st.integers(1, 7))
    channels = draw(st.integers(1, 4))
    k = draw(st.integers(1, 4))
    small = st.integers(0, 3) | st.sampled_from([-1, 10**18])
    attrs: dict = {}
    if draw(st.booleans()):
        attrs["strides"] = [draw(small), draw(small)]
    if draw(st.booleans()):
        attrs["pads"] = [draw(small) for _ in range(4)]
    if draw(st.booleans()):
        attrs["auto_pad"] = draw(st.sampled_from(["NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER",
                                                  "bogus"]))
    if op != "AveragePool" and draw(st.booleans()):
        attrs["dilations"] = [draw(small), draw(small)]
    if op == "Conv":
        group = draw(st.sampled_from([1, channels, 2, 0]))
        if draw(st.booleans()):
            attrs["kernel_shape"] = [draw(st.integers(1, 4)), k]
        attrs["group"] = group
        w = np.ones((2 * max(group, 1), max(channels // max(group, 1), 1), k, k), np.float32)
        model = one_op("Conv", [1, channels, size, size], {"w": w}, ["x", "w"], **attrs)
    else:
        attrs["kernel_shape"] = [draw(st.integers(1, 4)), k]
        if draw(st.booleans()):
            attrs["ceil_mode"] = draw(st.sampled_from([0, 1, 2]))
        model = one_op(op, [1, channels, size, size], {}, ["x"], **attrs)
    return model, (1, channels, size, size)


@hypothesis.settings(max_examples=150, deadline=None, derandomize=True,
                     suppress_health_check=list(hypothesis.HealthCheck))
@hypothesis.given(window_models())
def test_window_ops_that_we_accept_onnxruntime_accepts_and_agrees(drawn) -> None:
    from onnx_models import run_ort

    from mlxa.frontends.onnx_import import load_onnx
    from mlxa.runtime.eager import EagerModel

    model, shape = drawn
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    try:
        graph = load_onnx(model)
    except MlxaError:
        return  # refused cleanly: the property is about what we accept
    ours = EagerModel(graph)(x)[0]
    why = ort_rejects(model.SerializeToString())
    assert why == "", why
    (want,) = run_ort(model, {"x": x})
    assert ours.shape == want.shape
    np.testing.assert_allclose(ours, want, rtol=1e-5, atol=1e-5)


# -- constant folding drawn by hypothesis, against ONNX Runtime ---------------------------------

EDGY = st.sampled_from([0, 1, 2, 3, -1, -2, 7, 2**31, -(2**31), 2**62, -(2**63)])


@st.composite
def folded_models(draw):  # type: ignore[no-untyped-def]
    """One op on constants only (so the importer folds it), with drawn, often hostile, values."""
    i64 = np.int64
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    op = draw(st.sampled_from(["Range", "ConstantOfShape", "Expand", "Tile", "Pad", "Slice",
                               "Gather", "Reshape", "Mod", "Div", "Split"]))
    ints = lambda n: np.array([draw(EDGY) for _ in range(n)], i64)  # noqa: E731
    y_dtype: type = np.float32
    attrs: dict = {}
    if op == "Range":
        inits = {k: np.array(draw(EDGY), i64) for k in "abc"}
        y_dtype = i64
    elif op == "ConstantOfShape":
        inits = {"a": ints(draw(st.integers(0, 3)))}
    elif op in ("Expand", "Tile", "Reshape"):
        inits = {"a": x, "b": ints(draw(st.integers(1, 3)) if op != "Tile" else 2)}
    elif op == "Pad":
        inits = {"a": x, "b": ints(4)}
        attrs["mode"] = draw(st.sampled_from(["constant", "reflect", "edge", "wrap"]))
    elif op == "Slice":
        inits = {"a": x, "b": ints(1), "c": ints(1), "d": np.array([draw(st.integers(-3, 2))], i64),
                 "e": ints(1)}
    elif op == "Gather":
        inits = {"a": x, "b": ints(draw(st.integers(1, 3)))}
        attrs["axis"] = draw(st.integers(-3, 2))
    elif op == "Split":
        inits = {"a": x, "b": ints(2)}
        attrs["axis"] = 1
    else:  # Mod, Div on integers
        inits = {"a": ints(3), "b": ints(3)}
        y_dtype = i64
        if op == "Mod":
            attrs["fmod"] = draw(st.sampled_from([0, 1]))
    names = sorted(inits)
    outputs = ["y", "z"] if op == "Split" else ["y"]
    from onnx import helper

    model = make_model([helper.make_node(op, names, outputs, name="folded", **attrs)], [],
                       [vinfo(o, None, y_dtype) for o in outputs],
                       [const(k, v) for k, v in inits.items()])
    return model


@hypothesis.settings(max_examples=300, deadline=None, derandomize=True,
                     suppress_health_check=list(hypothesis.HealthCheck))
@hypothesis.given(folded_models())
def test_folded_constants_that_we_accept_onnxruntime_computes_alike(model) -> None:
    from onnx_models import run_ort

    from mlxa.frontends.onnx_import import load_onnx
    from mlxa.runtime.eager import EagerModel

    try:
        ours = EagerModel(load_onnx(model))()
    except MlxaError:
        return  # refused cleanly
    why = ort_rejects(model.SerializeToString())
    assert why == "", why
    want = run_ort(model, {})
    for a, b in zip(ours, want):
        assert a.shape == b.shape and a.dtype == b.dtype, (a, b)
        np.testing.assert_array_equal(a, b)


# -- one op on a graph input, its attributes and constant operands drawn ------------------------

def op_models():  # type: ignore[no-untyped-def]
    """A hypothesis strategy: (model, input shape) for one op on input x, with drawn attributes
    and constant operands, often outside what the op allows."""
    axis = st.integers(-4, 3)
    edgy = st.sampled_from([0, 1, 2, -1, -2, 3, 5, 2**31, -(2**31), 2**62, -(2**63)])
    flags = st.sampled_from([0, 1])

    @st.composite
    def draw_model(draw: Any) -> tuple[Any, tuple[int, ...]]:
        shape = draw(st.lists(st.integers(1, 4), min_size=1, max_size=4))
        rank = len(shape)
        op = draw(st.sampled_from(sorted(DRAWN_OPS)))
        ints = lambda n: np.array([draw(edgy) for _ in range(n)], I64)  # noqa: E731
        consts: dict[str, np.ndarray] = {}
        attrs: dict[str, Any] = {}
        y_dtype: Any = F32
        if op == "Slice":
            n = draw(st.integers(1, rank))
            consts = {"s": ints(n), "e": ints(n), "t": ints(n),
                      "a": np.array(draw(st.lists(axis, min_size=n, max_size=n)), I64)}
        elif op == "Reshape":
            consts = {"s": np.array(draw(st.lists(st.sampled_from([0, -1, 1, 2, 3, 4, 6, 12]),
                                                   min_size=1, max_size=4)), I64)}
            attrs["allowzero"] = draw(flags)
        elif op == "Transpose" and draw(st.booleans()):
            attrs["perm"] = draw(st.lists(axis, min_size=rank, max_size=rank))
        elif op == "Gather":
            consts = {"i": np.array(draw(st.lists(st.integers(-5, 5), max_size=3)), I64)}
            attrs["axis"] = draw(axis)
        elif op in ("Concat", "Flatten", "Softmax", "LogSoftmax"):
            attrs["axis"] = draw(axis)
        elif op in ("Squeeze", "Unsqueeze"):
            consts = {"a": np.array(draw(st.lists(axis, min_size=1, max_size=2)), I64)}
        elif op.startswith("Reduce"):
            if draw(st.booleans()):
                consts = {"a": np.array(draw(st.lists(axis, max_size=2)), I64)}
            attrs.update(keepdims=draw(flags), noop_with_empty_axes=draw(flags))
        elif op == "ArgMax":
            attrs.update(axis=draw(axis), keepdims=draw(flags))
            y_dtype = I64
        elif op == "LayerNormalization":
            attrs["axis"] = draw(axis)
            start = attrs["axis"] % rank if -rank <= attrs["axis"] < rank else 0
            consts = {"s": np.ones(shape[start:], F32)}
        elif op == "Expand":
            consts = {"s": np.array(draw(st.lists(st.sampled_from([1, 2, 3, 0, -1]),
                                                   min_size=1, max_size=5)), I64)}
        elif op == "Pad":
            consts = {"p": np.array(draw(st.lists(st.integers(-3, 3), min_size=2 * rank,
                                                   max_size=2 * rank)), I64)}
            attrs["mode"] = draw(st.sampled_from(["constant", "reflect", "edge"]))
        elif op == "Split":
            attrs["axis"] = draw(axis)
            if draw(st.booleans()):
                consts = {"s": np.array(draw(st.lists(st.integers(-1, 4), min_size=2,
                                                       max_size=2)), I64)}
            else:
                attrs["num_outputs"] = draw(st.integers(0, 3))
        elif op == "MatMul":
            consts = {"b": np.ones(draw(st.lists(st.integers(1, 4), min_size=1, max_size=3)),
                                   F32)}
        inputs = ["x", "x"] if op == "Concat" else ["x", *consts]
        outputs = ["y", "z"] if op == "Split" else ["y"]
        node = helper_node(op, inputs, outputs, attrs)
        model = make_model([node], [vinfo("x", shape)], [vinfo(o, None, y_dtype) for o in outputs],
                           [const(k, v) for k, v in consts.items()])
        return model, tuple(shape)

    return draw_model()


DRAWN_OPS = {"Slice", "Reshape", "Transpose", "Gather", "Concat", "Flatten", "Softmax",
             "LogSoftmax", "Squeeze", "Unsqueeze", "ReduceSum", "ReduceMean", "ReduceMax",
             "ArgMax", "LayerNormalization", "Expand", "Pad", "Split", "MatMul"}


def helper_node(op: str, inputs: list[str], outputs: list[str], attrs: dict[str, Any]) -> Any:
    from onnx import helper

    return helper.make_node(op, inputs, outputs, name="drawn", **attrs)


@hypothesis.settings(max_examples=300, deadline=None, derandomize=True,
                     suppress_health_check=list(hypothesis.HealthCheck))
@hypothesis.given(op_models())
def test_ops_with_drawn_attributes_that_we_accept_onnxruntime_computes_alike(drawn) -> None:
    from onnx_models import run_ort

    from mlxa.frontends.onnx_import import load_onnx
    from mlxa.runtime.eager import EagerModel

    model, shape = drawn
    x = (np.arange(np.prod(shape), dtype=np.float32).reshape(shape) - 3) / 2
    try:
        ours = EagerModel(load_onnx(model))(x)
    except MlxaError:
        return  # refused cleanly
    why = ort_rejects(model.SerializeToString(), {"x": shape})
    assert why == "", why
    want = run_ort(model, {"x": x})
    assert len(ours) == len(want)
    for a, b in zip(ours, want):
        assert a.shape == b.shape and a.dtype == b.dtype, (a, b)
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_graph_and_node_names_reach_the_graph_escaped() -> None:
    """Names end up in printed graphs and reports: no raw newline or terminal escape."""
    from mlxa.frontends.onnx_import import load_onnx

    model = one_op("Relu", [4], {}, ["x"])
    model.graph.name = "g\nSpeedup: 1000x"
    model.graph.node[0].name = "n\r\x1b[2J"
    graph = load_onnx(model)
    assert graph.name == r"g\nSpeedup: 1000x"
    assert [node.name for node in graph.nodes] == [r"n\r\x1b[2J"]


def test_names_that_are_not_utf8_are_escaped(tmp_path) -> None:
    """protobuf hands a string field that is not UTF-8 over as bytes."""
    model = one_op("Relu", [4], {}, ["x"])
    model.graph.node[0].name = "NAME"
    model.graph.node[0].op_type = "BOGUS"
    data = model.SerializeToString().replace(b"NAME", b"N\xb5ME").replace(b"BOGUS", b"B\xffGUS")
    path = tmp_path / "model.onnx"
    path.write_bytes(data)
    assert_refused(analyze(path, tmp_path / "out"), r"B\xffGUS (N\xb5ME)")
