"""The console report, in the seed's layout: header, baseline, optimized, comparison & analysis.
Rendered from a RunResult alone; every string that comes from a model or a path is escaped, so a
file name cannot inject lines or terminal escapes."""

from __future__ import annotations

from mlxa.result import Execution, PerOp, PlanSummary, RunResult
from mlxa.units import format_flops, format_ms, format_nbytes

RULE = "=" * 60
THIN = "-" * 60
PER_OP_ROWS = 25  # the slowest nodes; the JSON has them all


def clean(text: str) -> str:
    """Printable text only: control characters (newlines, escapes) shown as escapes."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))


def render_text(run: RunResult) -> str:
    lines = _header(run)
    if run.baseline is not None:
        lines += ["", "BASELINE (eager: every op allocates its result)", THIN]
        lines += _measured(run.baseline)
    if run.optimized is not None:
        lines += ["", "OPTIMIZED (compiled: static memory plan, in-place, fusion)", THIN]
        lines += _measured(run.optimized) + (_plan(run.plan) if run.plan else [])
    for title, part in (("BASELINE", run.baseline), ("OPTIMIZED", run.optimized)):
        if part is not None and part.per_op is not None:
            lines += ["", f"PER-OP TIME, {title}", THIN] + _per_op(part.per_op)
    if run.comparison is not None:
        lines += ["", "COMPARISON & ANALYSIS", RULE] + _comparison(run)
    lines += [f"Warning: {clean(w)}" for w in run.warnings]
    return "\n".join(lines) + "\n"


def _header(run: RunResult) -> list[str]:
    m, c, meta = run.model, run.config, run.meta
    blas = meta.blas
    lines = ["ML EXECUTION ANALYZER", RULE, f"Mode: {c.mode.upper()}"]
    if m.batch is not None:
        lines.append(f"Batch Size: {m.batch}")
    lines.append(f"Model: {clean(m.description)}")
    if m.input_values is not None:
        lines.append(f"Input: {list(m.input_values)} tiled to width {m.input_width}")
    elif m.input_source:
        lines.append(f"Input: {clean(m.input_source)}")
    lines.append(f"Parameters: {m.params:,} ({format_nbytes(m.param_nbytes)}); "
                 f"work {format_flops(m.flops)} per inference")
    kernel = " ".join(str(blas[k]) for k in ("library", "architecture") if blas.get(k))
    load = f", load {meta.load_average:.1f}" if meta.load_average is not None else ""
    lines.append(f"Machine: {clean(meta.cpu)}, {meta.cpu_count} cores{load}; numpy "
                 f"{meta.numpy_version}, BLAS {clean(kernel)}, {blas.get('threads')} threads")
    return lines


def _measured(part: Execution) -> list[str]:
    lat, mem = part.latency, part.memory
    return [
        f"Latency: {lat.median_ms:.3f} ms median (p10 {lat.p10_ms:.3f}, p90 {lat.p90_ms:.3f}) "
        f"over {lat.repeat} runs after {lat.warmup} warm-up",
        f"Peak memory within one inference: {format_nbytes(mem.peak_traced_nbytes)} (traced"
        + ("; no tensor: numpy's iteration buffers)" if not mem.allocations_per_inference
           and mem.peak_traced_nbytes else ")"),
        f"Tensor allocations per inference: {mem.allocations_per_inference} "
        f"({format_nbytes(mem.allocated_nbytes_per_inference)})",
    ]


def _plan(plan: PlanSummary) -> list[str]:
    bound = plan.lower_bound_nbytes
    ratio = plan.arena_nbytes / bound if bound else 1.0
    planners = " | ".join(f"{k} {format_nbytes(v)}" for k, v in plan.planners_arena_nbytes.items())
    passes = ", ".join(f"{p.name} {format_ms(p.time_ms)}" for p in plan.passes) or "none"
    steps = " -> ".join(f"{name} {n:,} B" for name, n in plan.bound_steps_nbytes)
    return [
        f"Compiled in {format_ms(plan.compile_ms)}; passes: {passes}",
        f"Arena: {format_nbytes(plan.arena_nbytes)} ({plan.arena_nbytes:,} B, planner "
        f"{plan.planner} -> {plan.winning_strategy}); lower bound {bound:,} B, ratio {ratio:.3f}",
        f"Lower bound by step (op scratch counted at every step): {steps}",
        f"Planners: {planners}",
        f"Fused groups: {', '.join(plan.fusion_groups) or 'none'}; "
        f"in-place ops: {plan.inplace_ops}",
        f"Custom kernels: {_kernels(plan.kernels)}",
        f"Workspace {format_nbytes(plan.workspace_nbytes)}, input/output buffers "
        f"{format_nbytes(plan.io_buffers_nbytes)}: footprint "
        f"{format_nbytes(plan.footprint_nbytes)}",
    ]


def _kernels(lines: tuple[str, ...], shown: int = 6) -> str:
    """The nodes custom kernels bound, the first `shown` of them."""
    if not lines:
        return "none"
    more = f"; ... ({len(lines)} in all)" if len(lines) > shown else ""
    return "; ".join(lines[:shown]) + more


def _per_op(p: PerOp) -> list[str]:
    rows = sorted(p.nodes, key=lambda n: -n.median_ms)
    header = (f"{'node':>5} {'op':<18} {'shape':<20} {'median ms':>10} {'share':>6} "
              f"{'FLOPs':>12} {'bytes':>10} {'GFLOP/s':>8} {'GB/s':>7}")
    lines = [header]
    for n in rows[:PER_OP_ROWS]:
        s = n.median_ms / 1e3
        gflops = n.flops / s / 1e9 if s > 0 else 0.0
        gbps = n.moved_nbytes / s / 1e9 if s > 0 else 0.0
        op = clean(n.op if n.op != "fused" else n.name)[:18]
        shape = "x".join(map(str, n.shape))[:20]
        lines.append(f"{n.index:>5} {op:<18} {shape:<20} {n.median_ms:>10.4f} "
                     f"{n.share_pct:>5.1f}% {format_flops(n.flops):>12} "
                     f"{format_nbytes(n.moved_nbytes):>10} {gflops:>8.2f} {gbps:>7.2f}")
    if len(rows) > PER_OP_ROWS:
        rest = sum(n.median_ms for n in rows[PER_OP_ROWS:])
        lines.append(f"  ... {len(rows) - PER_OP_ROWS} more nodes, {rest:.4f} ms together "
                     "(all in the JSON)")
    gap = p.end_to_end_ms - p.sum_ms
    lines.append(f"Sum of node times {p.sum_ms:.3f} ms vs end-to-end median "
                 f"{p.end_to_end_ms:.3f} ms ({100 * p.sum_ms / p.end_to_end_ms:.0f}%; "
                 f"{gap:+.3f} ms between calls); timer overhead "
                 f"{p.timer_overhead_ms * 1e3:.2f} us per node, subtracted; {p.repeat} passes"
                 if p.end_to_end_ms > 0 else f"Sum of node times {p.sum_ms:.3f} ms")
    return lines


def _comparison(run: RunResult) -> list[str]:
    cmp = run.comparison
    assert cmp is not None
    mem, ok = cmp.memory, cmp.correctness
    verdict = "PASS" if ok.passed else "FAIL"
    worst = max(ok.outputs, key=lambda o: (not o.passed, o.optimized_error - o.bound),
                default=None)
    detail = (f"optimized error {worst.optimized_error:.2e} vs eager {worst.eager_error:.2e} of "
              f"the output's scale against a float64 reference; bound {worst.bound:.2e}"
              if worst is not None else "no outputs")
    if worst is not None and not worst.passed and worst.reason:
        detail += f"; {clean(worst.reason)}"
    return [
        f"Speedup: {cmp.speedup_ratio:.2f}x (95% interval {cmp.speedup_low_ratio:.2f}x to "
        f"{cmp.speedup_high_ratio:.2f}x)",
        _memory_line(mem.reduction_pct, mem.baseline_nbytes, mem.optimized_nbytes)
        + f"; {_less_or_more(mem.allocated_per_inference_reduction_pct)} allocated per "
          "inference",
        f"Correctness Check: {verdict} (Diff: {detail})",
    ]


def _memory_line(reduction_pct: float, base: int, opt: int) -> str:
    figures = (f"eager peak {format_nbytes(base)} -> optimized footprint "
               f"{format_nbytes(opt)}")
    if reduction_pct >= 0:
        return f"Memory Efficiency: {reduction_pct:.1f}% reduction in activation memory ({figures})"
    return (f"Memory Efficiency: the optimized run holds {-reduction_pct:.1f}% more activation "
            f"memory than eager ({figures})")


def _less_or_more(pct: float) -> str:
    return f"{pct:.1f}% less" if pct >= 0 else f"{-pct:.1f}% more"
