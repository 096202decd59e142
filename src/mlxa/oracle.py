"""The correctness oracle: what optimization changed, judged against a float64 reference.

An element-wise tolerance on optimized vs eager float32 outputs cries wolf on real models: a
logit near zero in an output of magnitude 1e7 carries the rounding of the large terms it was
summed from, and batch-norm folding and Winograd change float32 rounding by design. So:

1. the reference: the same graph with every floating value and parameter in float64
   (`reference_graph`), run by the eager executor on the inputs promoted the same way
   (`reference_outputs`);
2. each executor's error against it, relative to the output's scale (`relative_error`);
3. PASS when the optimized error is within `K * eager_error + C * eps(dtype)` (`bound`): float32
   itself is not judged, only what optimization added to it. NaN and infinities must sit at the
   same places with the same values in the eager and optimized outputs, integer and bool outputs
   must equal the eager ones exactly, and shapes must match.

K and C were measured (tests/test_oracle.py, tests/test_real_cnns.py): over the zoo and six
classic CNNs with trained-looking weights (seeds 0 to 5) the optimized error is at most 1.63x
the eager error (eager errors 0.9 to 15 eps of float32), and in float64, where the eager error
is zero by construction, optimization changes the outputs by at most 20 eps. K = 4 and C = 64
leave 2.5x and 3x of headroom. In float32 the bound is then 1e-5 to 2e-5 of the output's scale,
while the bugs the tests inject err by 1e-4 to 0.9 of it: a wrong kernel (relu run as identity
or as a leaky relu), garbage from an overlapping buffer, one element off. Measured on float32
and float64 only (float16's eps would make C * eps 6% of the scale).

Quantized (INT8) programs answer to their own budget, not to this rule: output SQNR against the
float64 reference at least SQNR_FLOOR_DB (`judge_quantized`, `check_quantized`; the measurements
behind the floor are with them, at the end of this module).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

from mlxa.ir.graph import Graph, Node, TensorType, Value
from mlxa.ops import infer_types
from mlxa.runtime.eager import EagerModel

REFERENCE_DTYPE = np.dtype(np.float64)
K = 4.0  # optimized may round up to K times worse than eager ...
C = 64.0  # ... plus C units of the output dtype's machine epsilon
RULE = (f"per output, error = max |y - ref| over elements finite in both / max |ref| over finite "
        f"ref (ref: the graph in float64); PASS when optimized error <= {K:g} * eager error + "
        f"{C:g} * eps(dtype), NaN and infinities at the same places in eager and optimized, "
        f"integer and bool outputs equal to eager's, shapes equal")


# -- the reference -------------------------------------------------------------------------------

def reference_dtype(dtype: Any) -> np.dtype:
    """float64 for a floating dtype; any other dtype stays."""
    dtype = np.dtype(dtype)
    return REFERENCE_DTYPE if dtype.kind == "f" else dtype


def promote(array: np.ndarray) -> np.ndarray:
    """A floating array as float64 (a copy); others as they are."""
    array = np.asarray(array)
    return array.astype(REFERENCE_DTYPE) if array.dtype.kind == "f" else array


def _promote_attr(value: Any) -> Any:
    """An attribute naming a floating dtype (a cast's `to`) names float64; tuples are walked,
    since a fused node's steps carry their ops' attributes."""
    if isinstance(value, np.dtype):
        return reference_dtype(value)
    if isinstance(value, type) and issubclass(value, np.floating):
        return REFERENCE_DTYPE.type
    if isinstance(value, str) and _is_float_dtype_name(value):
        return REFERENCE_DTYPE.name
    if isinstance(value, tuple):
        return tuple(_promote_attr(v) for v in value)
    return value


def _is_float_dtype_name(text: str) -> bool:
    try:
        dtype = np.dtype(text)
    except TypeError:
        return False
    return dtype.kind == "f" and dtype.name == text  # "float32", not a code such as "f" or "e"


def reference_graph(graph: Graph) -> Graph:
    """The graph with every floating input, parameter and value in float64: types re-inferred
    by the op table's shape rules, so a node that cannot take float64 raises a ShapeError
    naming it. Integer and bool values stay as they are."""
    new: dict[Value, Value] = {}

    def promoted(v: Value) -> Value:
        new[v] = Value(TensorType(v.shape, reference_dtype(v.dtype)))
        return new[v]

    inputs = tuple(promoted(v) for v in graph.inputs)
    params = {promoted(v): _read_only(promote(a)) for v, a in graph.params.items()}
    nodes = []
    for i, node in enumerate(graph.nodes):
        nodes.append(_reference_node(i, node, new))
    return Graph(inputs, MappingProxyType(params), tuple(nodes),
                 tuple(new[v] for v in graph.outputs), graph.name)


def _reference_node(index: int, node: Node, new: dict[Value, Value]) -> Node:
    ins = tuple(new[v] for v in node.inputs)
    attrs = MappingProxyType({k: _promote_attr(a) for k, a in node.attrs.items()})
    where = f"%{index} = {node.op} " + ", ".join(str(v.type) for v in ins) + " (float64 reference)"
    outs = tuple(Value(t) for t in infer_types(node.op, [v.type for v in ins], attrs, where))
    new.update(zip(node.outputs, outs))
    return Node(node.op, ins, outs, attrs, node.name)


def _read_only(array: np.ndarray) -> np.ndarray:
    array = np.require(array, requirements="C").view()
    array.setflags(write=False)
    return array


def reference_outputs(graph: Graph, inputs: Sequence[np.ndarray]) -> tuple[np.ndarray, ...]:
    """The graph's outputs computed in float64 by the eager executor."""
    return EagerModel(reference_graph(graph))(*(promote(x) for x in inputs))


# -- errors --------------------------------------------------------------------------------------

def output_scale(ref: np.ndarray) -> float:
    """max |ref| over the finite elements of the reference (0.0 when there are none)."""
    r = np.asarray(ref, dtype=REFERENCE_DTYPE)
    return float(np.abs(r[np.isfinite(r)]).max(initial=0.0))


def relative_error(y: np.ndarray, ref: np.ndarray) -> float:
    """max |y - ref| over the elements finite in both, divided by the output's scale
    (`output_scale(ref)`); an absolute error when the scale is 0 (an all-zero reference).
    0.0 when no element is finite in both; the caller compares non-finite places."""
    y64, r64 = np.asarray(y, REFERENCE_DTYPE), np.asarray(ref, REFERENCE_DTYPE)
    finite = np.isfinite(y64) & np.isfinite(r64)
    diff = float(np.abs(y64[finite] - r64[finite]).max(initial=0.0))
    return diff / (output_scale(ref) or 1.0)


def bound(eager_error: float, dtype: Any) -> float:
    """The most optimized error that passes: K * eager error + C * eps(dtype)."""
    dtype = np.dtype(dtype)
    eps = float(np.finfo(dtype).eps) if dtype.kind == "f" else 0.0
    return K * eager_error + C * eps


def nonfinite_mismatches(a: np.ndarray, b: np.ndarray) -> int:
    """Places where a and b differ in being NaN, +inf or -inf."""
    if a.dtype.kind != "f" and b.dtype.kind != "f":
        return 0
    a64, b64 = np.asarray(a, REFERENCE_DTYPE), np.asarray(b, REFERENCE_DTYPE)
    differ = np.isnan(a64) != np.isnan(b64)
    differ |= np.isinf(a64) & (a64 != b64)
    differ |= np.isinf(b64) & (a64 != b64)
    return int(np.count_nonzero(differ))


# -- the verdict ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class OutputVerdict:
    """One output judged. Errors are `relative_error` against the float64 reference (math.inf
    when the shape is wrong or the output missing). `bound` is the largest optimized error that
    passes (0.0 for integer and bool outputs, which must equal eager's exactly).
    `reason` says why it failed ("" when it passed)."""

    index: int
    name: str
    dtype: str
    shape: tuple[int, ...]
    scale: float
    eager_error: float
    optimized_error: float
    bound: float
    nonfinite_mismatches: int
    passed: bool
    reason: str = ""


@dataclass(frozen=True)
class Verdict:
    """Every output judged (an extra optimized output is one that fails); passed when each
    passed."""

    outputs: tuple[OutputVerdict, ...]
    passed: bool
    rule: str = RULE

    def to_json(self) -> dict[str, Any]:
        """Plain dicts, lists, numbers and strings; a non-finite error becomes None."""
        return {"passed": self.passed, "rule": self.rule,
                "outputs": [{k: _json_number(v) for k, v in dataclasses.asdict(o).items()}
                            for o in self.outputs]}

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> Verdict:
        outputs = tuple(OutputVerdict(**{**o, "shape": tuple(o["shape"]),
                                         **{k: math.inf for k, v in o.items() if v is None}})
                        for o in data["outputs"])
        return Verdict(outputs, bool(data["passed"]), str(data["rule"]))


def _json_number(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def judge(reference: Sequence[np.ndarray], eager: Sequence[np.ndarray],
          optimized: Sequence[np.ndarray], names: Sequence[str] = ()) -> Verdict:
    """The verdict on optimized outputs, given the float64 reference and the eager outputs
    (one per reference output: both come from the same graph)."""
    if len(eager) != len(reference):
        raise ValueError(f"{len(eager)} eager outputs for {len(reference)} reference outputs")
    outputs = [_judge_one(i, _name(names, i), reference[i], eager[i],
                          optimized[i] if i < len(optimized) else None)
               for i in range(len(reference))]
    for i in range(len(reference), len(optimized)):
        outputs.append(_missing(i, _name(names, i), optimized[i], "an output the graph lacks"))
    return Verdict(tuple(outputs), all(o.passed for o in outputs))


def check(graph: Graph, inputs: Sequence[np.ndarray], eager: Sequence[np.ndarray],
          optimized: Sequence[np.ndarray], names: Sequence[str] = ()) -> Verdict:
    """`judge` with the reference computed from the graph and inputs the eager run took."""
    return judge(reference_outputs(graph, inputs), eager, optimized, names)


def _name(names: Sequence[str], index: int) -> str:
    return names[index] if index < len(names) else f"output {index}"


def _missing(index: int, name: str, array: np.ndarray, reason: str) -> OutputVerdict:
    return OutputVerdict(index, name, str(array.dtype), tuple(array.shape), 0.0, math.inf,
                         math.inf, 0.0, 0, False, reason)


def _judge_one(index: int, name: str, ref: np.ndarray, eager: np.ndarray,
               opt: np.ndarray | None) -> OutputVerdict:
    if opt is None:
        return _missing(index, name, eager, "no optimized output")
    scale, eager_error = output_scale(ref), relative_error(eager, ref)
    exact = eager.dtype.kind != "f"
    limit = 0.0 if exact else bound(eager_error, eager.dtype)
    common = (index, name, str(eager.dtype), tuple(eager.shape), scale, eager_error)
    if opt.shape != eager.shape or opt.dtype != eager.dtype:
        return OutputVerdict(*common, math.inf, limit, 0, False,
                             f"optimized is {opt.dtype}{list(opt.shape)}, eager "
                             f"{eager.dtype}{list(eager.shape)}")
    opt_error, moved = relative_error(opt, ref), nonfinite_mismatches(eager, opt)
    reason = _reason(eager, opt, opt_error, limit, moved, exact)
    return OutputVerdict(*common, opt_error, limit, moved, not reason, reason)


def _reason(eager: np.ndarray, opt: np.ndarray, opt_error: float, limit: float, moved: int,
            exact: bool) -> str:
    if exact:
        differ = int(np.count_nonzero(eager != opt))
        return f"{differ} elements differ from eager's" if differ else ""
    if moved:
        return f"NaN or infinities differ from eager's at {moved} places"
    if not opt_error <= limit:  # a NaN error fails too
        return f"optimized error {opt_error:.3g} > bound {limit:.3g}"
    return ""


# -- quantized programs --------------------------------------------------------------------------
#
# An INT8 program is not float32 with extra rounding: each quantized value carries an error of up
# to half a quantization step (1/255 of its range at u8), accumulated through every layer. The
# rule above (K x eager + C eps) would fail every quantized model, so a quantized program is
# judged by its own budget: the signal-to-quantization-noise ratio of its outputs against the
# float64 reference, SQNR = 10 log10(sum ref^2 / sum (y - ref)^2), must reach SQNR_FLOOR_DB.
#
# Why 15 dB. One 8-bit rounding of a full-range signal gives 6.02 x 8 + 1.76 = 49.9 dB; measured
# at the output of mlxa's INT8 programs (u8 and s8 activations, seeds 0 and 1, minmax
# calibration; percentile and mse too on the three small models), against the float64 reference:
# digits_cnn 40.0 to 43.3 dB on held-out digits, mlp 31.8 to 34.2, small_cnn 24.3 to 38.4,
# transformer 34.6 to 35.6, mobilenet_v2 30.1 to 31.9, resnet18 34.3 to 36.4, resnet50 33.2 to
# 35.3 dB on seeded random
# inputs (tests/test_oracle_quantized.py re-measures the small ones). The lowest, 24.3 dB, sits
# 9 dB (8x the noise power) above the floor. The bugs the tests inject into small_cnn fall below
# it: the output dequantized on twice its scale 0 dB, a requantization multiplier off by 2x in
# one layer 5 to 7 dB, a layer reading its input 16 steps off its zero point 6 to 12 dB. SQNR is
# taken over all the inputs given together, so one near-zero output cannot decide the verdict.

SQNR_FLOOR_DB = 15.0
SQNR_CAP_DB = 300.0  # JSON has no infinity: identical outputs report this
QUANTIZED_RULE = (f"per output, over all inputs together: SQNR = 10 log10(sum ref^2 / sum "
                  f"(y - ref)^2) against the graph in float64; PASS when SQNR >= "
                  f"{SQNR_FLOOR_DB:g} dB, every element finite where ref is, shapes equal")


def sqnr_db(ref: np.ndarray, y: np.ndarray) -> float:
    """Signal to quantization noise in dB, capped at +-SQNR_CAP_DB (identical outputs, or an
    all-zero reference)."""
    ref64 = np.asarray(ref, REFERENCE_DTYPE)
    noise = float(np.sum((np.asarray(y, REFERENCE_DTYPE) - ref64) ** 2))
    signal = float(np.sum(ref64 ** 2))
    if noise == 0 or signal == 0 or not math.isfinite(noise):
        return SQNR_CAP_DB if noise == 0 else -SQNR_CAP_DB
    return max(-SQNR_CAP_DB, min(SQNR_CAP_DB, 10.0 * math.log10(signal / noise)))


@dataclass(frozen=True)
class QuantizedOutput:
    """One output of a quantized program judged: its SQNR and max relative error against the
    float64 reference (`relative_error`), and why it failed ("" when it passed)."""

    index: int
    name: str
    shape: tuple[int, ...]
    sqnr_db: float
    relative_error: float
    floor_db: float
    passed: bool
    reason: str = ""


@dataclass(frozen=True)
class QuantizedVerdict:
    outputs: tuple[QuantizedOutput, ...]
    passed: bool
    rule: str = QUANTIZED_RULE

    def to_json(self) -> dict[str, Any]:
        return {"passed": self.passed, "rule": self.rule,
                "outputs": [{k: _json_number(v) for k, v in dataclasses.asdict(o).items()}
                            for o in self.outputs]}


def judge_quantized(reference: Sequence[np.ndarray], quantized: Sequence[np.ndarray],
                    names: Sequence[str] = (), floor_db: float = SQNR_FLOOR_DB
                    ) -> QuantizedVerdict:
    """The verdict on a quantized program's outputs (each may hold several inputs' outputs
    stacked) against the float64 reference's, output by output."""
    outputs = []
    for i, ref in enumerate(reference):
        y = np.asarray(quantized[i]) if i < len(quantized) else None
        outputs.append(_judge_quantized_one(i, _name(names, i), np.asarray(ref), y, floor_db))
    return QuantizedVerdict(tuple(outputs), all(o.passed for o in outputs)
                            and len(quantized) == len(reference))


def _judge_quantized_one(index: int, name: str, ref: np.ndarray, y: np.ndarray | None,
                         floor_db: float) -> QuantizedOutput:
    if y is None or y.shape != ref.shape:
        got = "no output" if y is None else f"shape {list(y.shape)}"
        return QuantizedOutput(index, name, tuple(ref.shape), -SQNR_CAP_DB, math.inf, floor_db,
                               False, f"{got}, reference {list(ref.shape)}")
    db, err = sqnr_db(ref, y), relative_error(y, ref)
    lost = int(np.count_nonzero(np.isfinite(np.asarray(ref, REFERENCE_DTYPE))
                                & ~np.isfinite(np.asarray(y, REFERENCE_DTYPE))))
    reason = (f"{lost} elements not finite where the reference is" if lost else
              f"SQNR {db:.1f} dB < floor {floor_db:g} dB" if not db >= floor_db else "")
    return QuantizedOutput(index, name, tuple(ref.shape), db, err, floor_db, not reason, reason)


def check_quantized(graph: Graph, inputs: Sequence[Sequence[np.ndarray]],
                    quantized: Sequence[Sequence[np.ndarray]], names: Sequence[str] = ()
                    ) -> QuantizedVerdict:
    """`judge_quantized` over several inputs: `quantized[j]` is the program's outputs on
    `inputs[j]`; the reference is the float graph in float64 on the same inputs, and each
    output's runs are stacked before the SQNR is taken."""
    refs = [reference_outputs(graph, x) for x in inputs]
    stacked_ref = [np.concatenate([r[i].reshape(-1) for r in refs]) for i in range(len(refs[0]))]
    n = min(len(q) for q in quantized)
    stacked = [np.concatenate([np.asarray(q[i]).reshape(-1) for q in quantized])
               for i in range(n)]
    return judge_quantized(stacked_ref, stacked, names)
