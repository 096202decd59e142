"""The console report, in the seed's layout: header, baseline, optimized, comparison & analysis."""

from __future__ import annotations

from typing import Any

from mlxa.units import format_flops, format_nbytes

RULE = "=" * 60
THIN = "-" * 60


def render_text(run: dict[str, Any]) -> str:
    lines = _header(run)
    if "baseline" in run:
        lines += ["", "BASELINE (eager: every op allocates its result)", THIN]
        lines += _measured(run["baseline"], run["config"])
    if "optimized" in run:
        lines += ["", "OPTIMIZED (compiled: static memory plan, in-place, fusion)", THIN]
        lines += _measured(run["optimized"], run["config"]) + _plan(run["optimized"]["plan"])
    if "comparison" in run:
        lines += ["", "COMPARISON & ANALYSIS", RULE] + _comparison(run["comparison"])
    return "\n".join(lines) + "\n"


def _header(run: dict[str, Any]) -> list[str]:
    m, c, meta = run["model"], run["config"], run["meta"]
    blas = meta["blas"]
    lines = ["ML EXECUTION ANALYZER", RULE, f"Mode: {c['mode'].upper()}"]
    if "batch" in m:
        lines.append(f"Batch Size: {m['batch']}")
    lines.append(f"Model: {m['description']}")
    if "input_values" in m:
        lines.append(f"Input: {m['input_values']} tiled to width {m['input_width']}")
    lines.append(f"Parameters: {m['params']:,} ({format_nbytes(m['param_nbytes'])}); "
                 f"work {format_flops(m['flops'])} per inference")
    kernel = " ".join(str(blas[k]) for k in ("library", "architecture") if blas.get(k))
    lines.append(f"Machine: {meta['cpu']}, {meta['cpu_count']} cores; numpy "
                 f"{meta['numpy_version']}, BLAS {kernel}, {blas.get('threads')} threads")
    return lines


def _measured(part: dict[str, Any], config: dict[str, Any]) -> list[str]:
    lat, mem = part["latency_ms"], part["memory"]
    return [
        f"Latency: {lat['median_ms']:.3f} ms median (p10 {lat['p10_ms']:.3f}, "
        f"p90 {lat['p90_ms']:.3f}) over {config['repeat']} runs after {config['warmup']} warm-up",
        f"Peak memory within one inference: {format_nbytes(mem['peak_traced_nbytes'])} (traced"
        + ("; no tensor: numpy's iteration buffers)" if not mem["allocations_per_inference"]
           and mem["peak_traced_nbytes"] else ")"),
        f"Tensor allocations per inference: {mem['allocations_per_inference']} "
        f"({format_nbytes(mem['allocated_nbytes_per_inference'])})",
    ]


def _plan(plan: dict[str, Any]) -> list[str]:
    bound = plan["lower_bound_nbytes"]
    ratio = plan["arena_nbytes"] / bound if bound else 1.0
    planners = " | ".join(f"{k} {format_nbytes(v)}"
                          for k, v in plan["planners_arena_nbytes"].items())
    groups = ", ".join(plan["fusion_groups"]) or "none"
    return [
        f"Arena: {format_nbytes(plan['arena_nbytes'])} ({plan['arena_nbytes']:,} B, planner "
        f"{plan['planner']} -> {plan['winning_strategy']}); lower bound "
        f"{plan['lower_bound_nbytes']:,} B, ratio {ratio:.3f}",
        f"Lower bound: {plan['lower_bound_before_fusion_and_inplace_nbytes']:,} B unfused -> "
        f"{plan['lower_bound_before_inplace_nbytes']:,} B fused -> {bound:,} B fused + in-place",
        *_bound_steps(plan),
        f"Planners: {planners}",
        f"Fused groups: {groups}; in-place ops: {plan['inplace_ops']}",
        f"Workspace {format_nbytes(plan['workspace_nbytes'])}, input/output buffers "
        f"{format_nbytes(plan['io_buffers_nbytes'])}: footprint "
        f"{format_nbytes(plan['footprint_nbytes'])}",
    ]


def _bound_steps(plan: dict[str, Any]) -> list[str]:
    """One line, when the run has the steps (runs saved before they existed do not)."""
    steps = plan.get("bound_steps_nbytes")
    if not steps:
        return []
    return ["Bound steps (TFLite in-place): " + " -> ".join(f"{name} {n:,} B" for name, n in steps)]


def _comparison(cmp: dict[str, Any]) -> list[str]:
    mem, ok = cmp["memory"], cmp["correctness"]
    verdict = "PASS" if ok["passed"] else "FAIL"
    return [
        f"Speedup: {cmp['speedup_ratio']:.2f}x",
        f"Memory Efficiency: {mem['reduction_pct']:.1f}% reduction in activation memory "
        f"(eager peak {format_nbytes(mem['baseline_nbytes'])} -> optimized footprint "
        f"{format_nbytes(mem['optimized_nbytes'])}); "
        f"{mem['allocated_per_inference_reduction_pct']:.1f}% less allocated per inference",
        f"Correctness Check: {verdict} (Diff: {ok['max_abs_diff']:.2e}, max relative "
        f"{ok['max_rel_diff']:.2e}; tolerance for {ok['dtype']}: rtol {ok['rtol']:g}, "
        f"atol {ok['atol']:g})",
    ] + ([f"Note: {ok['nonfinite_baseline_count']:,} baseline output values are not finite "
          "(overflow in the model on this input)"] if ok.get("nonfinite_baseline_count") else [])
