"""One conv, each layout, in three runtimes: mlxa's kernels (ops/conv.py for nchw, conv_cl.py
for nhwc and nchwc), torch (contiguous vs channels_last) and ONNX Runtime (its plain Conv vs its
NCHWc transformer's blocked conv, kernel times from its own profiler so the reorders it inserts
are counted apart). Each function returns calls or times; studies/layout.py decides what to run.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from mlxa.ir.builder import GraphBuilder
from mlxa.ops import get_op
from mlxa.ops.bound import sequence
from mlxa.passes.layout import convert_layout

Call = Callable[[], object]


def mlxa_conv_calls(x: np.ndarray, w: np.ndarray, b: np.ndarray | None,
                    attrs: Mapping[str, Any], block: int) -> dict[str, Call]:
    """Bound calls of the conv in nchw, nhwc and nchwc: the input already in each layout and
    every buffer made, as the compiled executor runs it; and, as `<layout>_relayout`, the two
    relayouts (in and out) the conv would need were it converted alone."""
    builder = GraphBuilder("conv")
    xv = builder.input(x.shape)
    ins = [xv, builder.param(w)] + ([builder.param(b)] if b is not None else [])
    graph = builder.build(builder.op("conv", *ins, **attrs))
    calls = {}
    for layout in ("nchw", "nhwc", "nchwc"):
        g = convert_layout(graph, layout, block)
        env: dict[Any, np.ndarray] = {xv: x, **g.params}
        call: Call | None = None
        relayouts: list[Call] = []
        for node in g.nodes:
            op = get_op(node.op)
            args = [env[v] for v in node.inputs]
            outs = [np.empty(v.shape, v.dtype) for v in node.outputs]
            ws_nbytes = op.workspace_nbytes([v.type for v in node.inputs],
                                            [v.type for v in node.outputs], node.attrs)
            bound = op.bound(args, outs, node.attrs, np.zeros(ws_nbytes, np.uint8)
                             if ws_nbytes else None)
            bound()
            env.update(zip(node.outputs, outs))
            if node.op in ("conv", "conv_cl"):
                call = bound
            else:
                relayouts.append(bound)
        assert call is not None
        calls[layout] = call
        if relayouts:
            calls[f"{layout}_relayout"] = sequence(relayouts)
    return calls


def torch_conv_calls(x: np.ndarray, w: np.ndarray, b: np.ndarray | None,
                     attrs: Mapping[str, Any], threads: int) -> dict[str, Call] | None:
    """torch's conv2d on a contiguous (nchw) and a channels_last (nhwc) input and weight, and
    `nhwc_relayout`: the input made channels_last and the output made contiguous again (what
    the conv alone would cost to convert); None without torch or with asymmetric padding."""
    try:
        import torch
        import torch.nn.functional as F
    except ImportError:
        return None
    pads = tuple(attrs.get("pads", (0, 0, 0, 0)))
    if pads[:2] != pads[2:]:
        return None
    torch.set_num_threads(threads)
    kwargs: dict[str, Any] = dict(stride=tuple(attrs.get("strides", (1, 1))), padding=pads[:2],
                  dilation=tuple(attrs.get("dilations", (1, 1))), groups=int(attrs.get("group", 1)))
    bias = torch.from_numpy(b.copy()) if b is not None else None
    calls: dict[str, Call] = {}
    for layout, fmt in (("nchw", torch.contiguous_format), ("nhwc", torch.channels_last)):
        xt = torch.from_numpy(x.copy()).contiguous(memory_format=fmt)
        wt = torch.from_numpy(w.copy()).contiguous(memory_format=fmt)

        def run(xt: Any = xt, wt: Any = wt) -> object:
            with torch.no_grad():
                return F.conv2d(xt, wt, bias, **kwargs)
        calls[layout] = run
    x_plain = torch.from_numpy(x.copy())
    y_last = calls["nhwc"]()
    calls["nhwc_relayout"] = lambda: (x_plain.contiguous(memory_format=torch.channels_last),
                                      y_last.contiguous())  # type: ignore[attr-defined]
    return calls


def ort_conv_times(x: np.ndarray, w: np.ndarray, b: np.ndarray | None,
                   attrs: Mapping[str, Any], threads: int, runs: int) -> dict[str, float] | None:
    """Median kernel milliseconds from ONNX Runtime's profiler: nchw (ORT_ENABLE_EXTENDED, no
    layout transformer), nchwc (ORT_ENABLE_ALL: its NCHWc transformer's conv) and nchwc_reorder
    (the ReorderInput / ReorderOutput it adds around that conv). None without onnxruntime."""
    try:
        import onnxruntime as ort

        from mlxa.frontends.onnx_export import to_onnx
    except ImportError:
        return None
    builder = GraphBuilder("conv")
    xv = builder.input(x.shape)
    ins = [xv, builder.param(w)] + ([builder.param(b)] if b is not None else [])
    model = to_onnx(builder.build(builder.op("conv", *ins, **attrs))).SerializeToString()
    levels = {"nchw": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
              "nchwc": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}
    times: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for layout, level in levels.items():
            per_op = _profiled(ort, model, level, x, threads, runs, os.path.join(tmp, layout))
            convs = {k: v for k, v in per_op.items() if "Conv" in k}
            times[layout] = sum(convs.values())
            if layout == "nchwc":
                times["nchwc_reorder"] = sum(v for k, v in per_op.items() if "Reorder" in k)
                times["nchwc_ops"] = float(len(per_op))
                times["nchwc_blocked"] = float(any("Nchwc" in k for k in convs))
    return times


def _profiled(ort: Any, model: bytes, level: Any, x: np.ndarray, threads: int, runs: int,
              prefix: str) -> dict[str, float]:
    """op type -> median kernel ms per run."""
    options = ort.SessionOptions()
    options.graph_optimization_level = level
    options.intra_op_num_threads = threads
    options.enable_profiling = True
    options.profile_file_prefix = prefix
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    feed = {session.get_inputs()[0].name: x}
    for _ in range(runs + 1):
        session.run(None, feed)
    with open(session.end_profiling(), encoding="utf-8") as f:
        events = json.load(f)
    per_run: dict[str, list[float]] = {}
    for e in events:
        if e.get("cat") == "Node" and str(e.get("name", "")).endswith("_kernel_time"):
            per_run.setdefault(str(e["args"]["op_name"]), []).append(e["dur"] / 1e3)
    return {op: float(np.median(v[-runs:] if len(v) > runs else v)) for op, v in per_run.items()}
