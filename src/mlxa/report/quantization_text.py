"""`mlxa quantize` as text: a renderer of the study's JSON data (studies/quantization.py), so a
saved run re-renders the same. One block per model: size, arena, latency, accuracy, coverage,
where the time moved, and the flags."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlxa.units import format_flops, format_ms, format_nbytes

LATENCY_ROWS = (("mlxa_fp32", "mlxa FP32 (compiled)"), ("mlxa_int8", "mlxa INT8 (compiled)"),
                ("ort_fp32", "ONNX Runtime FP32"), ("ort_mlxa_qdq", "ONNX Runtime, mlxa's QDQ"),
                ("ort_quantize_static", "ONNX Runtime, its quantize_static"),
                ("ort_dynamic", "ONNX Runtime, its quantize_dynamic"))
BASE = {"mlxa_int8": "mlxa_fp32"}


def render_text(report: Mapping[str, Any]) -> str:
    meta = report["meta"]
    lines = [f"mlxa quantize: FP32 vs INT8 on {meta['cpu']} (VNNI {_yes(meta['vnni'])}, AMX "
             f"{_yes(meta['amx'])}), {meta['threads']} thread(s), load average "
             f"{meta['load_average']}"]
    if meta.get("ceilings"):
        lines.append(f"roofs: {meta['ceilings']}")
    for study in report["models"]:
        lines += ["", *_model(study)]
    return "\n".join(lines) + "\n"


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _model(s: Mapping[str, Any]) -> list[str]:
    cfg = s["settings"]
    lines = [f"== {s['model']} {list(s['input_shape'])}: {cfg['calibration']} calibration on "
             f"{s['calibration_batches']} batches, {cfg['activations']} activations, "
             f"{cfg['rounding']} requantization"]
    return lines + _size(s) + _latency(s) + _accuracy(s) + _verdicts(s) + _coverage(s) + \
        _attribution(s) + _roofs(s) + [f"  ! {f}" for f in s["flags"]]


def _size(s: Mapping[str, Any]) -> list[str]:
    z, a = s["size"], s["arena"]
    lines = [f"  size       FP32 {format_nbytes(z['fp32_nbytes'])} ({z['fp32_nbytes']} B) -> "
             f"INT8 {format_nbytes(z['int8_nbytes'])} ({z['int8_nbytes']} B): "
             f"{z['ratio']:.2f}x smaller",
             f"             INT8 = weights {z['int8_weight_nbytes']} B + scales and zero points "
             f"{z['int8_scale_nbytes']} B + int32 biases {z['int8_bias_nbytes']} B + float "
             f"params {z['int8_float_nbytes']} B"]
    onnx = z.get("onnx_nbytes") or {}
    if onnx:
        lines.append("             ONNX files: " + ", ".join(
            f"{k.removeprefix('ort_')} {format_nbytes(v)}" for k, v in onnx.items()))
    lines.append(f"  arena      FP32 {format_nbytes(a['fp32_arena_nbytes'])} -> INT8 "
                 f"{format_nbytes(a['int8_arena_nbytes'])} (values alone: "
                 f"{format_nbytes(a['fp32_values_nbytes'])} -> "
                 f"{format_nbytes(a['int8_values_nbytes'])}; INT8's scratch is the reference "
                 f"kernels' float64 accumulators)")
    return lines


def _latency(s: Mapping[str, Any]) -> list[str]:
    ms = s["latency_ms"]
    lines = [f"  latency    median of at least {s['latency_repeat']} turns, interleaved within "
             f"mlxa's pair and within ONNX Runtime's group"]
    for key, label in LATENCY_ROWS:
        if key not in ms:
            continue
        base = ms.get(BASE.get(key, "ort_fp32"))
        ratio = f"  {base / ms[key]:.2f}x FP32's speed" if base and key not in (
            "mlxa_fp32", "ort_fp32") else ""
        lines.append(f"             {label:36} {format_ms(ms[key]):>12}{ratio}")
    return lines


def _accuracy(s: Mapping[str, Any]) -> list[str]:
    acc = s["accuracy"]
    lines = [f"  accuracy   over {acc['inputs']} input(s): output SQNR, top-1 agreement with FP32"]
    for key, db in acc["output_sqnr_db"].items():
        task = acc["task_top1"].get(key)
        extra = f", task top-1 {100 * task:.2f}%" if task is not None else ""
        lines.append(f"             {key:24} {db:6.2f} dB, agreement "
                     f"{100 * acc['top1_agreement'][key]:.1f}%{extra}")
    for key in ("mlxa_fp32", "ort_fp32"):
        if key in acc["task_top1"]:
            lines.append(f"             {key:24} task top-1 {100 * acc['task_top1'][key]:.2f}%")
    layers = acc["layers"]
    if layers:
        worst = min(layers, key=lambda layer: layer["sqnr_db"])
        lines.append(f"             per layer (mlxa INT8): {len(layers)} integer ops, SQNR "
                     f"{min(x['sqnr_db'] for x in layers):.1f} to "
                     f"{max(x['sqnr_db'] for x in layers):.1f} dB; lowest {worst['name']}")
    return lines


def _coverage(s: Mapping[str, Any]) -> list[str]:
    c = s["coverage"]
    lines = [f"  coverage   {100 * c['share']:.2f}% of {format_flops(c['total_flops'])} in "
             f"integer kernels; left in float:"]
    for op in c["float_ops"]:
        lines.append(f"             {op['op']:18} x{op['count']:<4} "
                     f"{format_flops(op['flops']):>12}  {op['reason']}")
    return lines


def _attribution(s: Mapping[str, Any]) -> list[str]:
    lines = []
    for title, rows in (("mlxa", s["attribution"]), ("ONNX Runtime (quantize_static)",
                                                     s["ort_attribution"])):
        if not rows:
            continue
        lines.append(f"  time by op kind, {title}: FP32 -> INT8 (change)")
        for r in rows[:8]:
            lines.append(f"             {r['kind']:20} {format_ms(r['fp32_ms']):>12} -> "
                         f"{format_ms(r['int8_ms']):>12} ({r['int8_ms'] - r['fp32_ms']:+.3f} ms)")
    return lines


def _verdicts(s: Mapping[str, Any]) -> list[str]:
    verdicts = s["accuracy"].get("verdicts") or {}
    if not verdicts:
        return []
    floor = next(iter(verdicts.values()))["outputs"][0]["floor_db"]
    lines = [f"  oracle     quantized rule: output SQNR against the float64 reference >= "
             f"{floor:g} dB"]
    for key, v in verdicts.items():
        o = v["outputs"][0]
        lines.append(f"             {key:24} {'PASS' if v['passed'] else 'FAIL'} "
                     f"{o['sqnr_db']:6.2f} dB{'  ' + o['reason'] if o['reason'] else ''}")
    return lines


def _roofs(s: Mapping[str, Any]) -> list[str]:
    r = s.get("roofs")
    if not r:
        return []
    int8 = r["int8_peak_ops_per_s"]
    lines = [f"  roofs      conv/matmul work {format_flops(r['linear_flops'])}; FP32 roof "
             f"{r['fp32_peak_ops_per_s'] / 1e9:.1f} GFLOP/s, INT8 roof "
             + (f"{int8 / 1e9:.1f} GOP/s" if int8 else "not measured"),
             f"             ({r['how']})"]
    for a in r["achieved"]:
        share = "" if a["roof_share"] is None else f"  {100 * a['roof_share']:5.1f}% of its roof"
        lines.append(f"             {a['runtime']} {a['precision'].upper():4} "
                     f"{format_ms(a['linear_ms']):>12} {a['ops_per_s'] / 1e9:9.2f} G/s{share}")
    return lines + [f"             - {n}" for n in r["notes"]]
