"""Quantization benchmark: FP32 vs INT8 on the issue's backbones, the ratios the "done when" asks
for, all measured in this one run (nothing asserted; read the ratios):

  size        FP32 params / INT8 params (weights + scales + zero points + biases), goal >= 3.8
  ORT speed   ONNX Runtime FP32 / INT8 latency, mlxa's QDQ export and ORT's quantize_static
  QDQ vs ORT  quantize_static latency / mlxa QDQ latency (>= 1: mlxa's export as fast or faster)
  SQNR        output SQNR of mlxa's QDQ in ORT minus quantize_static's (goal >= -0.5 dB)
  digits      FP32 top-1 - INT8 top-1 on the held-out split (goal <= 0.5 points)

    python benchmarks/quantize.py [--models resnet18,resnet50,mobilenet_v2,digits_cnn]
                                  [--budget 6] [--threads 1] [--out DIR]

Latency is the median of interleaved turns (studies/quantization.py), one ONNX Runtime thread by
default: on a shared machine say how busy it was (the load average is printed).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from mlxa.cli.main import build_parser
from mlxa.cli.quantize_cmd import _sources, quantization_report
from mlxa.report.quantization_text import render_text


def main() -> int:
    p = argparse.ArgumentParser(description="FP32 vs INT8 ratios, measured in one run")
    p.add_argument("--models", default="resnet18,resnet50,mobilenet_v2,digits_cnn")
    p.add_argument("--budget", default="6")
    p.add_argument("--threads", default="1")
    p.add_argument("--dynamic", action="store_true")
    p.add_argument("--out", help="also write the report's JSON and text here")
    ns = p.parse_args()
    argv = ["quantize", "--model", ns.models, "--budget", ns.budget, "--threads", ns.threads,
            *(["--dynamic"] if ns.dynamic else [])]
    args = build_parser().parse_args(argv)
    report = quantization_report(_sources(args), args)
    meta = report["meta"]
    print(f"{meta['cpu']}, VNNI {meta['vnni']}, AMX {meta['amx']}, {meta['threads']} ORT "
          f"thread(s), load average {meta['load_average']} at the end")
    print(f"{'model':14} {'size x':>7} {'ORT fp32/mlxa-qdq':>18} {'ORT fp32/static':>16} "
          f"{'static/mlxa-qdq':>16} {'dSQNR dB':>9} {'mlxa fp32/int8':>15}")
    for s in report["models"]:
        ms, db = s["latency_ms"], s["accuracy"]["output_sqnr_db"]
        print(f"{s['model']:14} {s['size']['ratio']:7.2f} "
              f"{ms['ort_fp32'] / ms['ort_mlxa_qdq']:18.2f} "
              f"{ms['ort_fp32'] / ms['ort_quantize_static']:16.2f} "
              f"{ms['ort_quantize_static'] / ms['ort_mlxa_qdq']:16.2f} "
              f"{db['ort_mlxa_qdq'] - db['ort_quantize_static']:+9.2f} "
              f"{ms['mlxa_fp32'] / ms['mlxa_int8']:15.2f}")
        task = s["accuracy"]["task_top1"]
        if task:
            print(f"{'':14} top-1 FP32 {100 * task['mlxa_fp32']:.2f}% -> mlxa INT8 "
                  f"{100 * task['mlxa_int8']:.2f}% (loss "
                  f"{100 * (task['mlxa_fp32'] - task['mlxa_int8']):.2f} points), ORT "
                  f"quantize_static {100 * task['ort_quantize_static']:.2f}%")
        if s.get("speedup_note"):
            print(f"{'':14} {s['speedup_note']}")
    if ns.out:
        out = Path(ns.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "quantize_bench.json").write_text(json.dumps(report, indent=2) + "\n")
        (out / "quantize_bench.txt").write_text(render_text(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
