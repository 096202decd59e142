"""The known pathologies of INT8 on CPUs, flagged where a study's figures show them. Each flag
is one sentence that says what was measured and why it matters:

  * the dynamic path: ConvInteger / MatMulInteger (ONNX Runtime's quantize_dynamic) have no
    optimized kernel for convolutions; activations are quantized on every call;
  * Q/DQ pairs left unfused: a QuantizeLinear or DequantizeLinear still in the graph ONNX
    Runtime runs is a float op between integer kernels (a conversion each way);
  * no VNNI (or AMX): without vpdpbusd, u8 x s8 products go through vpmaddubsw (int16
    saturation, little gain over FP32 FMA); AMX tiles would raise the INT8 roof further;
  * tiny models: where convert-in and convert-out cost as much as the integer work saved;
  * mlxa's own kernels: numpy has no int8 GEMM, so mlxa's INT8 latency is a reference kernel.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlxa.machine.cpu import cpu_flags

SPEEDUP_GOAL = 1.8  # ResNet-50 in ONNX Runtime, the ONNX model zoo's figure (Xeon 8280)
TINY_FLOPS = 100_000_000
QDQ_SHARE = 0.2


def int8_dot_support(flags: frozenset[str] | None = None) -> dict[str, bool]:
    flags = cpu_flags() if flags is None else flags
    return {"vnni": bool({"avx512_vnni", "avx_vnni"} & flags),
            "amx": "amx_int8" in flags}


def flags(study: Any, onnx_models: Mapping[str, Any],
          cpu: frozenset[str] | None = None) -> tuple[str, ...]:
    failed = [f"{key}: left out, ONNX Runtime refused it: {why}"
              for key, why in study.ort_failures.items()]
    out = [*failed, *_dynamic(study, onnx_models), *_unfused(study), *_cpu(cpu), *_tiny(study),
           _reference_kernels(study)]
    return tuple(f for f in out if f)


def _ratio(latency: Mapping[str, float], slow: str, fast: str) -> float | None:
    if slow in latency and fast in latency and latency[fast] > 0:
        return latency[slow] / latency[fast]
    return None


def _dynamic(study: Any, onnx_models: Mapping[str, Any]) -> list[str]:
    if "ort_dynamic" not in study.latency_ms:
        return []
    ratio = _ratio(study.latency_ms, "ort_dynamic", "ort_fp32") or 0.0
    static = _ratio(study.latency_ms, "ort_quantize_static", "ort_fp32") or 0.0
    ops = study.ort_ops_left.get("ort_dynamic", {})
    integer = ", ".join(f"{n} {op}" for op, n in ops.items() if op.endswith("Integer"))
    return [f"dynamic quantization (ONNX Runtime quantize_dynamic: {integer or 'no'} integer "
            f"nodes) takes {ratio:.2f}x the FP32 time where static quantization takes "
            f"{static:.2f}x: activations are quantized on every call and ConvInteger is not the "
            f"QLinearConv kernel; use static quantization for CNNs"]


def _unfused(study: Any) -> list[str]:
    out = []
    for key, ops in study.ort_ops_left.items():
        if key == "ort_dynamic":
            continue
        left = ops.get("QuantizeLinear", 0) + ops.get("DequantizeLinear", 0)
        if left > 2:  # one in, one out is the model's boundary
            floats = sorted(op for op in ops if op not in ("QuantizeLinear", "DequantizeLinear")
                            and not op.startswith("QLinear") and op not in _INTEGER_ORT)
            out.append(f"{key}: {left} QuantizeLinear/DequantizeLinear nodes left unfused in "
                       f"the graph ONNX Runtime runs; float ops between them: "
                       f"{', '.join(floats) or 'none'}")
    qdq = ("quantize_linear", "dequantize_linear")
    mlxa_left = sum(o.count for o in study.coverage.float_ops if o.op in qdq)
    if mlxa_left > 2:
        between = sorted(o.op for o in study.coverage.float_ops if o.op not in qdq)
        out.append(f"mlxa_int8: {mlxa_left} quantize/dequantize nodes, around ops with no "
                   f"integer kernel in mlxa: {', '.join(between) or 'none'}")
    return out


_INTEGER_ORT = ("QGemm", "MaxPool", "Reshape", "Flatten", "Identity", "Transpose")


def _cpu(cpu: frozenset[str] | None) -> list[str]:
    support = int8_dot_support(cpu)
    if not support["vnni"]:
        return ["no VNNI on this CPU: u8 x s8 dot products take vpmaddubsw + vpmaddwd "
                "(int16 intermediate, may saturate) instead of one vpdpbusd; expect little "
                "INT8 speed-up"]
    if not support["amx"]:
        return ["VNNI present (vpdpbusd: four u8 x s8 products per lane per instruction); no "
                "AMX tiles (amx_int8), the INT8 roof of 4th-generation Xeons"]
    return []


def _tiny(study: Any) -> list[str]:
    ratio = _ratio(study.latency_ms, "ort_fp32", "ort_quantize_static")
    qdq = next((t for t in study.ort_attribution if t.kind == "quantize/dequantize"), None)
    total = sum(t.int8_ms for t in study.ort_attribution)
    share = qdq.int8_ms / total if qdq and total else 0.0
    small = study.coverage.total_flops < TINY_FLOPS
    if (ratio is not None and ratio < 1.0 and small) or share >= QDQ_SHARE:
        return [f"quantize/dequantize overhead dominates: {100 * share:.0f}% of ONNX Runtime's "
                f"INT8 time, {study.coverage.total_flops / 1e6:.1f} MFLOP of work in all; "
                f"INT8 is {ratio or 0:.2f}x FP32"]
    return []


def _reference_kernels(study: Any) -> str:
    ratio = _ratio(study.latency_ms, "mlxa_fp32", "mlxa_int8")
    if ratio is None:
        return ""
    return (f"mlxa's integer kernels are reference kernels (numpy has no int8 GEMM: the int32 "
            f"accumulation runs exactly in float64 BLAS), so mlxa INT8 is {ratio:.2f}x its FP32 "
            f"speed; ONNX Runtime's columns measure real integer kernels")


def speedup_note(study: Any) -> str:
    """Whether INT8 reached the anchor's 1.8x over FP32 in ONNX Runtime, and if not, why."""
    best = min((study.latency_ms[k] for k in ("ort_mlxa_qdq", "ort_quantize_static")
                if k in study.latency_ms), default=None)
    if best is None or "ort_fp32" not in study.latency_ms:
        return ""
    ratio = study.latency_ms["ort_fp32"] / best
    if ratio >= SPEEDUP_GOAL:
        return f"INT8 {ratio:.2f}x faster than FP32 in ONNX Runtime (goal {SPEEDUP_GOAL}x): met"
    return (f"INT8 {ratio:.2f}x faster than FP32 in ONNX Runtime, short of {SPEEDUP_GOAL}x; "
            f"see the per-op attribution and the flags for where the time goes")
