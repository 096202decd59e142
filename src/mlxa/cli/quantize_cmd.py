"""`mlxa quantize [MODEL.onnx | --model NAME[,NAME...]]`: FP32 and INT8 side by side
(studies/quantization.py): size, arena, latency in mlxa and ONNX Runtime, accuracy, coverage,
where the time moved, and the known pathologies. Text on stdout (`--json`: the data); with
`--out DIR` the JSON, the text and a PNG are written together, all or none."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from mlxa.cli.html_flag import add_html_arg, check_html
from mlxa.errors import UserInputError

DIGITS_CALIBRATION = 64  # training images, one per batch


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("quantize", help="FP32 vs INT8: size, latency and accuracy, in mlxa and "
                                        "ONNX Runtime")
    p.add_argument("model_path", nargs="?", metavar="MODEL.onnx", help="an ONNX model file")
    p.add_argument("--model", default=None,
                   help="zoo model(s), comma-separated (default digits_cnn; e.g. "
                        "resnet18,resnet50,mobilenet_v2)")
    p.add_argument("--input-shape", action="append", metavar="NAME=1x3x224x224",
                   help="an ONNX input's shape, binding its dynamic dims (repeatable)")
    p.add_argument("--calibration", default="minmax", choices=("minmax", "percentile", "mse"),
                   help="how activation ranges are chosen (default minmax)")
    p.add_argument("--activations", default="u8", choices=("u8", "s8"),
                   help="u8 asymmetric (default) or s8 symmetric activations")
    p.add_argument("--rounding", default="fixed_point", choices=("fixed_point", "float"),
                   help="requantization in mlxa's kernels: gemmlowp's fixed point (default) or "
                        "ONNX Runtime's float")
    p.add_argument("--calibration-batches", type=int, default=4,
                   help="calibration inputs (default 4 seeded random inputs; digits_cnn: "
                        f"{DIGITS_CALIBRATION} training images)")
    p.add_argument("--eval", type=int, default=4, dest="n_eval",
                   help="evaluation inputs for random-weight models (default 4; digits_cnn "
                        "always uses its whole held-out split)")
    p.add_argument("--budget", type=float, default=4.0,
                   help="seconds of timed turns per model (default 4)")
    p.add_argument("--threads", type=int, default=1, help="ONNX Runtime threads (default 1)")
    p.add_argument("--seed", type=int, default=0, help="seed of the weights and inputs")
    p.add_argument("--no-ort", action="store_true", help="leave out ONNX Runtime")
    p.add_argument("--dynamic", action="store_true",
                   help="also time ONNX Runtime's quantize_dynamic (the ConvInteger path)")
    p.add_argument("--ceilings", metavar="FILE",
                   help="set the runs against the FP32 and INT8 roofs of a machine.json (mlxa "
                        "machine --out); default: the cached ceilings, if `mlxa machine` has run")
    p.add_argument("--json", action="store_true", help="print the data as JSON")
    p.add_argument("--out", metavar="DIR", help="write NAME.json, NAME.txt and NAME.png here")
    p.add_argument("--name", default=None, help="report name (default: the model names)")
    add_html_arg(p, "NAME")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from mlxa.report.quantization_text import render_text

    _check(args)
    if args.out:  # fail on an unwritable directory or a bad name before minutes of work
        from mlxa.atomic import check_name, ensure_writable_dir

        ensure_writable_dir(args.out)
        check_name(args.name or "_".join(_names(args)))
    report = quantization_report(_sources(args), args)
    if args.out:
        _write(report, args, [s["model"] for s in report["models"]])
    print(json.dumps(report, indent=2, allow_nan=False) if args.json else render_text(report),
          end="\n" if args.json else "")
    return 0


def _check(args: argparse.Namespace) -> None:
    from mlxa.cli.model_sources import check_positive

    check_html(args)
    if args.model_path and args.model:
        raise UserInputError("give a model file or --model, not both")
    for name in ("calibration_batches", "n_eval", "threads"):
        check_positive("--" + name.replace("_", "-").replace("n-eval", "eval"),
                       getattr(args, name))
    if not args.budget > 0:
        raise UserInputError(f"--budget must be a positive number of seconds, got {args.budget}")
    if not args.no_ort:
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            raise UserInputError("the ONNX Runtime columns need onnxruntime (pip install "
                                 "'mlxa[onnx]'); or pass --no-ort") from None


def _names(args: argparse.Namespace) -> list[str]:
    """The models' names, each zoo name checked (before any model is built)."""
    if args.model_path:
        return [Path(args.model_path).stem]
    names = [n.strip() for n in (args.model or "digits_cnn").split(",")]
    if any(not n for n in names):
        raise UserInputError(f"--model {args.model!r}: expected NAME[,NAME...]")
    from mlxa.models.zoo import get_model

    for name in names:
        get_model(name)
    return names


def _sources(args: argparse.Namespace) -> list[tuple[str, Any, list, list, Any]]:
    """(name, graph, calibration batches, evaluation inputs, labels or None) per model."""
    names = _names(args)
    if args.model_path:
        return [_onnx_source(args)]
    from mlxa.models.zoo import build

    out = []
    for name in names:
        graph = build(name, 1, args.seed)
        out.append((name, graph, *_inputs(name, graph, args)))
    return out


def _onnx_source(args: argparse.Namespace) -> tuple[str, Any, list, list, Any]:
    from mlxa.cli.model_sources import parse_input_shapes

    try:
        from mlxa.frontends.onnx_import import load_onnx
    except ImportError:
        raise UserInputError("reading ONNX models needs the onnx package") from None
    graph = load_onnx(args.model_path, parse_input_shapes(args.input_shape))
    return (Path(args.model_path).stem, graph, *_inputs("", graph, args))


def _inputs(name: str, graph: Any, args: argparse.Namespace) -> tuple[list, list, Any]:
    if len(graph.inputs) != 1 or graph.inputs[0].dtype != np.float32:
        raise UserInputError(f"model {name or args.model_path!r}: quantize takes a model with "
                             f"one f32 input, not {', '.join(str(v.type) for v in graph.inputs)}")
    from mlxa.passes.quantize import quantized_values

    if not quantized_values(graph)[0]:
        raise UserInputError(f"model {name or args.model_path!r} has no conv, gemm or matmul "
                             f"with constant weights: nothing to quantize")
    if name == "digits_cnn":
        return _digits_inputs(args)
    shape = graph.inputs[0].shape

    def draw(seed: int) -> tuple[np.ndarray]:
        return (np.random.default_rng(seed).standard_normal(shape).astype(np.float32),)

    calib = [draw(args.seed + 1000 + i) for i in range(args.calibration_batches)]
    return calib, [draw(args.seed + i) for i in range(args.n_eval)], None


def _digits_inputs(args: argparse.Namespace) -> tuple[list, list, Any]:
    try:
        from mlxa.models.digits_cnn import digits_split

        x_train, _, x_test, y_test = digits_split()
    except ImportError:
        raise UserInputError("digits_cnn's held-out split needs scikit-learn "
                             "(pip install scikit-learn)") from None
    n = args.calibration_batches if args.calibration_batches != 4 else DIGITS_CALIBRATION
    return [(x[None],) for x in x_train[:n]], [(x[None],) for x in x_test], y_test


def quantization_report(sources: list, args: argparse.Namespace) -> dict[str, Any]:
    from mlxa.report.progress import terminal_progress

    with terminal_progress() as progress:  # bars on a terminal only
        return _report(sources, args, progress)


def _report(sources: list, args: argparse.Namespace, progress: Any) -> dict[str, Any]:
    from mlxa.machine.blas import blas_threads
    from mlxa.machine.cpu import cpu_name, load_average
    from mlxa.studies.quantization import SCHEMA, Settings, study
    from mlxa.studies.quantization_flags import int8_dot_support, speedup_note
    from mlxa.studies.quantization_roofs import attach_roofs

    settings = Settings(args.calibration, args.activations, args.rounding, args.threads,
                        args.budget, not args.no_ort, args.dynamic)
    models = []
    with blas_threads(args.threads, required=False):
        for name, graph, calib, evaluation, labels in sources:
            result = study(graph, name, settings, calib, evaluation, labels, progress)
            data = result.to_json()
            data["speedup_note"] = speedup_note(result)
            models.append(data)
    ceilings = attach_roofs(models, args.ceilings, args.threads)
    load = load_average()
    return {"schema": SCHEMA, "meta": {"cpu": cpu_name(), **int8_dot_support(),
                                       "threads": args.threads, "ceilings": ceilings,
                                       "load_average": None if load is None else round(load, 2),
                                       "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
            "models": models}


def _write(report: dict[str, Any], args: argparse.Namespace, names: list[str]) -> None:
    from mlxa.cli.html_flag import write_study
    from mlxa.report.quantization_plot import quantization_png
    from mlxa.report.quantization_text import render_text
    from mlxa.report.study_html import quantize_html

    name = args.name or "_".join(names)
    text, png = render_text(report), quantization_png(report)
    write_study(Path(args.out) / name, json.dumps(report, indent=2, allow_nan=False) + "\n",
                text, png, (lambda: quantize_html(report, text, png)) if args.html else None)
