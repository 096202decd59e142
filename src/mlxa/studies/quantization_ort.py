"""ONNX Runtime's side of the quantization study: sessions on one thread, its own
`quantize_static` (the anchor) and `quantize_dynamic` (the ConvInteger path), and the op types
left in a session's optimized graph (which Q/DQ pairs it fused into integer kernels).

Everything here imports onnxruntime inside the function that needs it (optional dependency).
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np


def session(model: Any, threads: int = 1, optimized: Path | None = None) -> Any:
    """An InferenceSession at ORT_ENABLE_ALL on the CPU provider; `optimized`: where ORT writes
    the graph it will run."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only: not the note on saving an optimized graph
    if optimized is not None:
        options.optimized_model_filepath = str(optimized)
    return ort.InferenceSession(model.SerializeToString(), options,
                                providers=["CPUExecutionProvider"])


def portable(model: Any) -> Any:
    """The model with AveragePool's all-ones `dilations` dropped (the default): ONNX Runtime
    1.32 fuses DequantizeLinear -> AveragePool -> QuantizeLinear into QLinearAveragePool and
    copies the attribute over, which that op does not have, so the model fails to load. Both
    quantizers' models get the same treatment; nothing else changes."""
    for node in model.graph.node:
        if node.op_type == "AveragePool":
            keep = [a for a in node.attribute
                    if not (a.name == "dilations" and all(d == 1 for d in a.ints))]
            del node.attribute[:]
            node.attribute.extend(keep)
    return model


def runner(sess: Any, inputs: Sequence[np.ndarray]) -> Callable[[], list[np.ndarray]]:
    feed = {i.name: x for i, x in zip(sess.get_inputs(), inputs)}
    return lambda: sess.run(None, feed)


def optimized_op_counts(model: Any, threads: int = 1) -> dict[str, int]:
    """Op type -> count in the graph ONNX Runtime actually runs, after its fusions."""
    import onnx

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "optimized.onnx"
        session(model, threads, optimized=path)
        graph = onnx.load(str(path)).graph
    return dict(Counter(n.op_type for n in graph.node))


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """ONNX Runtime's quantizer logs advice on the root logger ("consider pre-processing");
    the study's figures say what matters, so the advice is held back while it runs."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


class _Batches:
    """onnxruntime.quantization.CalibrationDataReader over in-memory batches."""

    def __init__(self, names: Sequence[str], batches: Sequence[Sequence[np.ndarray]]) -> None:
        self._feeds = iter([dict(zip(names, b)) for b in batches])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._feeds, None)

    def rewind(self) -> None:  # calibrators that read twice (percentile) are not used here
        pass


def quantize_static(model: Any, batches: Sequence[Sequence[np.ndarray]],
                    activations: str) -> Any:
    """ONNX Runtime's post-training static quantization of the FP32 model, QDQ format, int8
    per-channel weights, MinMax calibration (its default) on the same batches mlxa uses."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType
    from onnxruntime.quantization import quantize_static as ort_quantize_static

    class Reader(_Batches, CalibrationDataReader):
        pass

    names = [i.name for i in model.graph.input]
    act = QuantType.QUInt8 if activations == "u8" else QuantType.QInt8
    with tempfile.TemporaryDirectory() as tmp, _quiet():
        src, dst = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        onnx.save(model, str(src))
        ort_quantize_static(str(src), str(dst), Reader(names, batches),
                            quant_format=QuantFormat.QDQ, per_channel=True,
                            activation_type=act, weight_type=QuantType.QInt8,
                            extra_options={"ActivationSymmetric": activations == "s8"})
        return onnx.load(str(dst))


def quantize_dynamic(model: Any) -> Any:
    """ONNX Runtime's dynamic quantization: weights int8 offline, activations quantized at run
    time; convolutions become ConvInteger (the path its maintainers call unoptimized)."""
    import onnx
    from onnxruntime.quantization import QuantType
    from onnxruntime.quantization import quantize_dynamic as ort_quantize_dynamic

    with tempfile.TemporaryDirectory() as tmp, _quiet():
        src, dst = Path(tmp) / "fp32.onnx", Path(tmp) / "dyn.onnx"
        onnx.save(model, str(src))
        ort_quantize_dynamic(str(src), str(dst), weight_type=QuantType.QUInt8)
        return onnx.load(str(dst))


def profile_by_op(model: Any, inputs: Sequence[np.ndarray], runs: int,
                  threads: int = 1) -> dict[str, float]:
    """ONNX Runtime's own per-node profile, summed by op type: mean milliseconds per run."""
    import json

    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    with tempfile.TemporaryDirectory() as tmp:
        options.enable_profiling = True
        options.profile_file_prefix = str(Path(tmp) / "ort")
        sess = ort.InferenceSession(model.SerializeToString(), options,
                                    providers=["CPUExecutionProvider"])
        run = runner(sess, inputs)
        for _ in range(runs):
            run()
        events = json.loads(Path(sess.end_profiling()).read_text())
    totals: Counter[str] = Counter()
    for e in events:
        if e.get("cat") == "Node" and e.get("name", "").endswith("_kernel_time"):
            totals[e.get("args", {}).get("op_name", "?")] += e.get("dur", 0) / 1e3
    return {op: ms / runs for op, ms in totals.items()}
