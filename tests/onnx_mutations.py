"""Hostile ONNX inputs for the fuzz tests: the zoo exported to ONNX, seeded mutations of it (byte
flips, truncations, changed protobuf fields), hand-built hostile graphs, and the CLI run
in-process with its exit code and stderr."""

from __future__ import annotations

import contextlib
import io
import os
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

IR_VERSION = 10
# small sizes, so that a whole sweep runs in about a minute on one core
ZOO_SIZES: dict[str, dict[str, Any]] = {
    "mlp": dict(in_features=16, hidden=32, out_features=8),
    "small_cnn": dict(image=12, width=4),
    "transformer": dict(seq=8, d_model=16, heads=2, d_ff=32),
    "mobilenet_v2": dict(image=32, classes=10, width_mult=0.25),
    "resnet18": dict(image=32, classes=10, width=4),
}
FAST = ("--warmup", "0", "--repeat", "1", "--quiet")


def zoo_model(name: str) -> Any:
    from mlxa.frontends.onnx_export import to_onnx
    from mlxa.models.zoo import ZOO

    return to_onnx(ZOO[name].build(1, 0, **ZOO_SIZES[name]))


@dataclass(frozen=True)
class Outcome:
    code: int
    stderr: str


def run_cli(*args: str) -> Outcome:
    """The CLI in-process: its exit code and what it wrote on stderr."""
    from mlxa.cli.main import main

    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        code = main(list(args))
    return Outcome(code, err.getvalue())


@contextlib.contextmanager
def time_limit(seconds: int) -> Iterator[None]:
    """A TimeoutError in the main thread after `seconds`: a case that hangs fails instead."""

    def hang(signum: int, frame: object) -> None:
        raise TimeoutError(f"the case hung for {seconds} s")

    previous = signal.signal(signal.SIGALRM, hang)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def analyze(path: Path, out: Path, *extra: str) -> Outcome:
    return run_cli("analyze", str(path), "--out", str(out), *FAST, *extra)


ORT_DTYPES = {f"tensor({name})": np.dtype(name if name != "float" else "float32")
              for name in ("float", "float16", "double", "int8", "int16", "int32", "int64",
                           "uint8", "uint16", "uint32", "uint64", "bool")}


def ort_rejects(data: bytes, shapes: dict[str, tuple[int, ...]] | None = None) -> str:
    """Why the checker (full) or ONNX Runtime refuses the model ('' when both accept it).
    ORT also runs it once on inputs of the given shapes, as analyze does."""
    import onnx
    import onnxruntime as ort

    try:
        model = onnx.load_from_string(data)
        onnx.checker.check_model(model, full_check=True)
    except Exception as e:  # any refusal counts
        if "'type' of 'value_info'" not in str(e):  # outputs of no type: ORT takes them
            return f"checker: {str(e)[:200]}"
    try:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.log_severity_level = 4
        session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
        feeds = {}
        for i in session.get_inputs():
            shape = (shapes or {}).get(i.name) or [d if isinstance(d, int) else 1 for d in i.shape]
            dtype = ORT_DTYPES.get(i.type, np.float32)
            feeds[i.name] = np.zeros(shape, dtype)
        session.run(None, feeds)
    except Exception as e:  # any refusal counts
        return f"ort: {str(e)[:200]}"
    return ""


# -- mutations ------------------------------------------------------------------------------------

def flip_bytes(data: bytes, rng: np.random.Generator) -> bytes:
    buf = bytearray(data)
    for _ in range(int(rng.integers(1, 5))):
        buf[int(rng.integers(len(buf)))] ^= 1 << int(rng.integers(8))
    return bytes(buf)


def truncate(data: bytes, rng: np.random.Generator) -> bytes:
    return data[:int(rng.integers(len(data)))]


HUGE = (2**31, 2**40, 2**63 - 1, 10**18, -1, -(2**40), 0)


def _pick(rng: np.random.Generator, seq: Any) -> Any:
    return seq[int(rng.integers(len(seq)))]


def _nodes_with(model: Any, kind: int) -> list[tuple[Any, Any]]:
    return [(n, a) for n in model.graph.node for a in n.attribute if a.type == kind]


def mutate_field(model: Any, rng: np.random.Generator) -> str:
    """Change one protobuf field of `model` in place; return what was changed."""
    from onnx import AttributeProto

    g = model.graph
    choice = int(rng.integers(19))
    ints = [t for t in g.initializer if t.data_type in (6, 7) and t.raw_data]
    if choice == 16 and ints:
        t = _pick(rng, ints)
        values = np.frombuffer(t.raw_data, np.int64 if t.data_type == 7 else np.int32).copy()
        values[int(rng.integers(values.size))] = _pick(rng, (2**31 - 1, -(2**31), 0, -1, 10**6))
        t.raw_data = values.tobytes()
        return "integer initializer value"
    if choice == 17 and g.output:
        g.output.append(_pick(rng, list(g.output) + list(g.input)))
        return "duplicate or input as output"
    if choice == 18 and g.input:
        del g.input[int(rng.integers(len(g.input)))]
        return "graph input removed"
    if choice == 0 and g.initializer:
        t = _pick(rng, g.initializer)
        if t.dims:
            t.dims[int(rng.integers(len(t.dims)))] = int(_pick(rng, HUGE))
        return "initializer dim"
    if choice == 1 and g.initializer:
        t = _pick(rng, g.initializer)
        t.data_type = int(rng.integers(0, 27))
        return "initializer data_type"
    if choice == 2:
        pairs = _nodes_with(model, AttributeProto.INTS)
        if pairs:
            _, a = _pick(rng, pairs)
            if a.ints:
                a.ints[int(rng.integers(len(a.ints)))] = int(_pick(rng, HUGE))
            return "ints attribute"
    if choice == 3:
        pairs = _nodes_with(model, AttributeProto.INT)
        if pairs:
            _, a = _pick(rng, pairs)
            a.i = int(_pick(rng, HUGE))
            return "int attribute"
    if choice == 4:
        pairs = _nodes_with(model, AttributeProto.FLOAT)
        if pairs:
            _, a = _pick(rng, pairs)
            a.f = float(_pick(rng, (-1.0, float("nan"), float("inf"), 1e30, 0.0)))
            return "float attribute"
    if choice == 5:
        pairs = [(n, a) for n in g.node for a in n.attribute]
        if pairs:
            _, a = _pick(rng, pairs)
            a.type = int(_pick(rng, (0, 1, 2, 3, 6, 7)))
            return "attribute type"
    if choice == 6 and g.node:
        n = _pick(rng, g.node)
        n.input.append(_pick(rng, [x for m in g.node for x in m.input] or ["x"]))
        return "extra input"
    if choice == 7 and g.node:
        n = _pick(rng, g.node)
        n.output.append(f"extra_{rng.integers(1000)}")
        return "extra output"
    if choice == 8 and g.node:
        n = _pick(rng, g.node)
        n.op_type = _pick(rng, ("Relu", "Gelu", "Conv", "Add", "Gather", "Mod", "Range",
                                "ConstantOfShape", "Split", "Tile", "Expand", "Pad", "Bogus",
                                "LayerNormalization", "Reshape", "Transpose", "MatMul"))
        return "op type"
    if choice == 9:
        model.opset_import[0].version = int(rng.integers(1, 30))
        return "opset"
    if choice == 10:
        model.ir_version = int(_pick(rng, (0, 1, 2, 3, 4, 7, 11, 13, 14, 15, 99)))
        return "ir_version"
    if choice == 11 and g.output:
        vi = _pick(rng, g.output)
        vi.type.tensor_type.elem_type = int(rng.integers(0, 27))
        return "output elem_type"
    if choice == 12 and g.input:
        dims = _pick(rng, g.input).type.tensor_type.shape.dim
        if dims:
            dims[int(rng.integers(len(dims)))].dim_value = int(_pick(rng, HUGE[3:] + (2**20,)))
        return "input dim"
    if choice == 13 and g.initializer:
        t = _pick(rng, g.initializer)
        raw = t.raw_data
        t.raw_data = raw[:int(rng.integers(len(raw) + 1))] if raw else b"\0" * 7
        return "raw_data length"
    if choice == 14 and len(g.node) > 1:
        i, j = (int(v) for v in rng.choice(len(g.node), 2, replace=False))
        a, b = g.node[i], g.node[j]
        a_copy = type(a)()
        a_copy.CopyFrom(a)
        a.CopyFrom(b)
        b.CopyFrom(a_copy)
        return "node order"
    if g.node:
        n = _pick(rng, g.node)
        if n.input:
            n.input[int(rng.integers(len(n.input)))] = _pick(
                rng, [x for m in g.node for x in m.output] + [t.name for t in g.initializer])
        return "rewired input"
    return "nothing"


# -- hand-built hostile graphs ---------------------------------------------------------------------

def make_model(nodes: list[Any], inputs: list[Any], outputs: list[Any], inits: list[Any] = (),
               opset: int = 18, ir_version: int = IR_VERSION) -> Any:
    from onnx import helper

    graph = helper.make_graph(nodes, "hostile", inputs, outputs, list(inits))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                             ir_version=ir_version)


def vinfo(name: str, shape: list[Any] | None, dtype: Any = np.float32) -> Any:
    """A tensor of `shape` and `dtype`; with no shape, a value declared without any type (as
    the checker allows a tensor type only with a shape)."""
    from onnx import helper

    if shape is None:
        return helper.make_empty_tensor_value_info(name)
    return helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(np.dtype(dtype)),
                                         shape)


def const(name: str, array: Any) -> Any:
    from onnx import numpy_helper

    return numpy_helper.from_array(np.asarray(array), name)


def node(op: str, inputs: list[str], outputs: list[str], **attrs: Any) -> Any:
    from onnx import helper

    return helper.make_node(op, inputs, outputs, name=f"{op.lower()}_n", **attrs)


Y = ("y", None)


def one_op(op: str, x_shape: list[int] | None, inits: dict[str, Any], inputs: list[str],
           opset: int = 18, y_dtype: Any = np.float32, **attrs: Any) -> Any:
    """A model y = op(inputs...), x a float graph input of x_shape (None: no graph input)."""
    graph_inputs = [vinfo("x", x_shape)] if x_shape is not None else []
    return make_model([node(op, inputs, ["y"], **attrs)], graph_inputs,
                      [vinfo("y", None, y_dtype)],
                      [const(k, v) for k, v in inits.items()], opset=opset)


Builder = Callable[[Path], Path]


def saved(model: Any, folder: Path, name: str = "model.onnx") -> Path:
    path = folder / name
    path.write_bytes(model.SerializeToString())
    return path


def external(folder: Path, **entries: str) -> Path:
    """y = x + w, w's 4 floats in external data with the given entries (location, offset,
    length); the file w.bin (16 bytes) lies next to the model."""
    from onnx import TensorProto

    (folder / "w.bin").write_bytes(np.ones(4, np.float32).tobytes())
    w = const("w", np.ones(4, np.float32))
    w.ClearField("raw_data")
    w.data_location = TensorProto.EXTERNAL
    for key, value in {"location": "w.bin", **entries}.items():
        entry = w.external_data.add()
        entry.key, entry.value = key, value
    model = make_model([node("Add", ["x", "w"], ["y"])], [vinfo("x", [4])], [vinfo("y", [4])],
                       [w])
    return saved(model, folder)


def _fifo(folder: Path) -> Path:
    os.mkfifo(folder / "w.bin")
    (folder / "real").mkdir()
    return external(folder / "real", location="../w.bin")


def _fifo_inside(folder: Path) -> Path:
    path = external(folder)
    (folder / "w.bin").unlink()
    os.mkfifo(folder / "w.bin")
    return path


def _linked(folder: Path, kind: str) -> Path:
    """External data through a symbolic or a second hard link: onnx.checker refuses both."""
    path = external(folder, location="link.bin")
    (os.symlink if kind == "symbolic" else os.link)(folder / "w.bin", folder / "link.bin")
    return path


def _big_declared(folder: Path) -> Path:
    path = external(folder, length=str(10**12))
    return path


def _huge_tensor_declared(folder: Path) -> Path:
    from onnx import TensorProto

    w = const("w", np.ones(4, np.float32))
    w.ClearField("raw_data")
    w.dims[:] = [250_000_000_000]
    w.data_location = TensorProto.EXTERNAL
    for key, value in (("location", "w.bin"), ("length", str(10**12))):
        entry = w.external_data.add()
        entry.key, entry.value = key, value
    (folder / "w.bin").write_bytes(b"\0" * 16)
    model = make_model([node("Add", ["x", "w"], ["y"])], [vinfo("x", [1])], [vinfo("y", None)],
                       [w])
    return saved(model, folder)


def _neg_dims(folder: Path) -> Path:
    w = const("w", np.ones(8, np.float32))
    w.dims[:] = [-2, 4]
    return saved(make_model([node("Add", ["x", "w"], ["y"])], [vinfo("x", [2, 4])],
                            [vinfo("y", None)], [w]), folder)


def _untyped_attr(folder: Path) -> Path:
    n = node("LeakyRelu", ["x"], ["y"])
    a = n.attribute.add()
    a.name = "alpha"
    return saved(make_model([n], [vinfo("x", [4])], [vinfo("y", None)]), folder)


def _ir3_init_not_input(folder: Path) -> Path:
    model = make_model([node("Add", ["x", "w"], ["y"])], [vinfo("x", [4])], [vinfo("y", [4])],
                       [const("w", np.ones(4, np.float32))], opset=9, ir_version=3)
    return saved(model, folder)


def _conv(folder: Path, w_shape: tuple[int, ...] = (2, 1, 3, 3), **attrs: Any) -> Path:
    model = one_op("Conv", [1, 1, 8, 8], {"w": np.ones(w_shape, np.float32)}, ["x", "w"],
                   **attrs)
    return saved(model, folder)


def _runtime_gather(folder: Path) -> Path:
    """Gather of a 3-row table by an int64 input: analyze feeds random indices 0..9."""
    model = make_model([node("Gather", ["t", "i"], ["y"], axis=0)], [vinfo("i", [4], np.int64)],
                       [vinfo("y", None)], [const("t", np.ones((3, 2), np.float32))])
    return saved(model, folder)


def _saved(model_fn: Callable[[], Any]) -> Builder:
    return lambda folder: saved(model_fn(), folder)


F32 = np.float32
I64 = np.int64
HOSTILE: dict[str, tuple[Builder, str]] = {
    # memory bombs: folding huge constants, huge external data, huge declared tensors
    "constant_of_shape_3.6TiB": (_saved(lambda: one_op(
        "ConstantOfShape", None, {"s": np.array([1 << 20, 1 << 20, 900], I64)}, ["s"])),
        "needs about"),
    "constant_of_shape_4GiB": (_saved(lambda: one_op(
        "ConstantOfShape", None, {"s": np.array([1 << 30], I64)}, ["s"])), "needs about"),
    "range_10^10": (_saved(lambda: one_op(
        "Range", None, {"a": np.array(0, I64), "b": np.array(10**10, I64),
                        "d": np.array(1, I64)}, ["a", "b", "d"], y_dtype=I64)), "needs about"),
    "expand_10^10": (_saved(lambda: one_op(
        "Expand", None, {"c": np.ones(1, F32), "s": np.array([10**5, 10**5], I64)},
        ["c", "s"])), "needs about"),
    "tile_10^10": (_saved(lambda: one_op(
        "Tile", None, {"c": np.ones((1, 1), F32), "r": np.array([10**5, 10**5], I64)},
        ["c", "r"])), "needs about"),
    "pad_10^10": (_saved(lambda: one_op(
        "Pad", None, {"c": np.ones((1, 1), F32), "p": np.array([10**5, 10**5, 0, 0], I64)},
        ["c", "p"])), "needs about"),
    "external_length_10^12": (_big_declared, "length"),
    "external_tensor_10^12": (_huge_tensor_declared, "needs about"),
    # hangs
    "external_fifo": (_fifo_inside, "not a regular file"),
    "external_fifo_escape": (_fifo, "outside the model's folder"),
    "external_symlink": (lambda f: _linked(f, "symbolic"), "symbolic link"),
    "external_hardlink": (lambda f: _linked(f, "hard"), "hard links"),
    "duplicate_node_names": (_saved(lambda: make_model(
        [node("Relu", ["x"], ["a"]), node("Relu", ["a"], ["y"])], [vinfo("x", [4])],
        [vinfo("y", [4])])), "two nodes are named"),
    # wrong answers
    "gather_out_of_range": (_saved(lambda: one_op(
        "Gather", [4], {"i": np.array([7], I64)}, ["x", "i"], axis=0)), "out of range"),
    "gather_runtime_out_of_range": (_runtime_gather, "out of range"),
    "mod_by_zero": (_saved(lambda: one_op(
        "Mod", None, {"a": np.array([5], I64), "b": np.array([0], I64)}, ["a", "b"],
        y_dtype=I64)),
        "by zero"),
    "negative_dims": (_neg_dims, "negative dims"),
    "conv_kernel_shape": (lambda f: _conv(f, kernel_shape=[5, 5]), "kernel_shape"),
    "gelu_bogus": (_saved(lambda: one_op("Gelu", [4], {}, ["x"], opset=20,
                                         approximate="bogus")), "approximate"),
    "layer_norm_negative_epsilon": (_saved(lambda: one_op(
        "LayerNormalization", [2, 4], {"s": np.ones(4, F32)}, ["x", "s"], epsilon=-1.0)),
        "epsilon"),
    "split_zero_outputs": (_saved(lambda: one_op("Split", [4], {}, ["x"], num_outputs=0)),
                           "num_outputs"),
    "extra_input": (_saved(lambda: one_op("Relu", [4], {}, ["x", "x"])), "input size 2"),
    "extra_output": (_saved(lambda: make_model([node("Relu", ["x"], ["y", "z"])],
                                               [vinfo("x", [4])], [vinfo("y", None)])),
                     "output size 2"),
    "untyped_attribute": (_untyped_attr, "type"),
    "wrong_output_dtype": (_saved(lambda: make_model(
        [node("Relu", ["x"], ["y"])], [vinfo("x", [4])], [vinfo("y", [4], np.int64)])),
        "elem type"),
    "op_newer_than_opset": (_saved(lambda: one_op("Gelu", [4], {}, ["x"], opset=17)),
                            "No Op registered"),
    "div_int_runtime": (_saved(lambda: make_model(
        [node("Div", ["x", "d"], ["y"])], [vinfo("x", [4], I64)], [vinfo("y", None, I64)],
        [const("d", np.array([2], I64))])), "integer Div"),
    "conv_float64_no_reference": (_saved(lambda: make_model(
        [node("Conv", ["x", "w"], ["y"])], [vinfo("x", [1, 1, 4, 4], np.float64)],
        [vinfo("y", None, np.float64)], [const("w", np.ones((1, 1, 3, 3)))])), "float64"),
    # tracebacks
    "conv_strides_10^18": (lambda f: _conv(f, strides=[10**18, 10**18]), "strides"),
    "batchnorm_epsilon_string": (_saved(lambda: one_op(
        "BatchNormalization", [1, 2, 2, 2], {k: np.ones(2, F32) for k in "sbmv"},
        ["x", "s", "b", "m", "v"], epsilon="tiny")), "epsilon"),
    "range_delta_0": (_saved(lambda: one_op(
        "Range", None, {"a": np.array(0, I64), "b": np.array(10, I64),
                        "d": np.array(0, I64)}, ["a", "b", "d"], y_dtype=I64)), "step"),
    "external_offset_text": (lambda f: external(f, offset="abc"), "offset"),
    "external_length_float": (lambda f: external(f, length="1.5"), "length"),
    "external_nul_location": (lambda f: external(f, location="w.bin\0x"), "location"),
    "external_offset_2^70": (lambda f: external(f, offset=str(2**70)), "offset"),
    "ir3_initializer_not_input": (_ir3_init_not_input, "not a graph input"),
}


# -- the sweep ------------------------------------------------------------------------------------

@dataclass
class Sweep:
    """What a sweep of mutated models gave: counts, and the cases that broke a rule."""

    cases: int = 0
    refused: int = 0  # exit 2, one line
    succeeded: int = 0  # exit 0 or 1
    bad_successes: list[str] = field(default_factory=list)  # ORT or the checker refuse them
    failures: list[str] = field(default_factory=list)  # exit 3, several lines, an exception

    def summary(self) -> str:
        return (f"{self.cases} cases: {self.refused} refused cleanly, {self.succeeded} "
                f"succeeded ({len(self.bad_successes)} on models ORT or the checker refuse), "
                f"{len(self.failures)} failures")


def mutant(base: bytes, rng: np.random.Generator) -> tuple[str, bytes]:
    import onnx

    kind = rng.random()
    if kind < 0.3:
        return "byte flip", flip_bytes(base, rng)
    if kind < 0.4:
        return "truncation", truncate(base, rng)
    model = onnx.load_from_string(base)
    what = mutate_field(model, rng)
    return what, model.SerializeToString()


def sweep(n: int, seed: int, folder: Path, models: tuple[str, ...] = tuple(ZOO_SIZES)) -> Sweep:
    """n seeded mutants of the exported zoo models, each analyzed through the CLI."""
    bases = {name: zoo_model(name).SerializeToString() for name in models}
    rng = np.random.default_rng(seed)
    result = Sweep()
    for k in range(n):
        name = models[k % len(models)]
        what, data = mutant(bases[name], rng)
        case = f"#{k} {name} {what}"
        path = folder / f"case{k}" / "model.onnx"
        path.parent.mkdir(parents=True)
        path.write_bytes(data)
        result.cases += 1
        try:
            with time_limit(30):
                outcome = analyze(path, path.parent / "out")
        except Exception as e:  # the sweep records every escape
            result.failures.append(f"{case}: {type(e).__name__}: {e}")
            continue
        lines = outcome.stderr.strip().splitlines()
        if outcome.code == 2 and len(lines) == 1:
            result.refused += 1
        elif outcome.code in (0, 1):
            result.succeeded += 1
            why = ort_rejects(data)
            if why:
                result.bad_successes.append(f"{case}: {why}")
        else:
            result.failures.append(f"{case}: exit {outcome.code}: {outcome.stderr.strip()[:300]}")
    return result
