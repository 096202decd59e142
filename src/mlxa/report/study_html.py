"""The case studies as HTML pages (`--html` on machine, roofline, fusion, quantize, layout,
sparsity, kernels): one self-contained page per run, rendered from the study's typed data with
report/html.py's `page`, `table`, `kv` and `card`.

Every page has the same shape: a summary of key figures as cards, the study's figures as
sortable tables, its picture (the PNG of `--out` as a data: URI, which the CSP's `img-src data:`
allows; the roofline as inline SVG), how each figure was measured, the machine it ran on, and
the text report folded away. Every string goes through `esc` (in `table`, `kv`, `card`, or here).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from mlxa.report.html import card, kv, page, table
from mlxa.report.svg import esc

Section = tuple[str, str, str]


def num(value: float | None, fmt: str, scale: float = 1.0) -> tuple[str, float] | str:
    """A sortable number cell, or '-' for a missing value."""
    return "-" if value is None else (format(value * scale, fmt), value * scale)


def how(text: str) -> str:
    return f'<p class="how">How measured: {esc(text)}</p>'


def cards(items: Iterable[tuple[str, str]]) -> str:
    return '<div class="cards">' + "".join(card(v, label) for v, label in items) + "</div>"


def picture(png: bytes | None, alt: str) -> str:
    if not png:
        return "<p>No picture in this run.</p>"
    data = base64.b64encode(png).decode()
    return (f'<div class="frame plain"><img alt="{esc(alt)}" style="max-width:100%" '
            f'src="data:image/png;base64,{data}"></div>')


def fact(value: object) -> str:
    """A value of a run's meta as text: lists joined, mappings as 'key value', floats rounded."""
    if isinstance(value, (list, tuple)):
        return " ".join(map(fact, value))
    if isinstance(value, Mapping):
        return ", ".join(f"{k} {fact(v)}" for k, v in value.items() if v is not None)
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def machine_facts(meta: Mapping[str, Any], extra: Sequence[tuple[str, object]] = ()) -> str:
    pairs = [(str(k), fact(v)) for k, v in [*extra, *meta.items()]
             if v is not None and v != ""]
    return how("read when the run started (/proc/cpuinfo, the affinity mask, os.getloadavg, "
               "threadpoolctl); a fingerprint, where shown, keys the cached ceilings of mlxa "
               "machine.") + kv(pairs)


def study_page(title: str, subtitle: str, summary: str, sections: Sequence[Section],
               machine: str, text: str, warnings: Sequence[str] = ()) -> str:
    warn = "".join(f'<p class="warn">Warning: {esc(w)}</p>' for w in warnings)
    folded = (f"<details><summary>the text report, as printed</summary><pre>{esc(text)}</pre>"
              "</details>")
    return page(title, esc(subtitle), [("summary", "Summary", summary + warn), *sections,
                                      ("machine", "Machine", machine),
                                      ("text", "Text report", folded)])


def nbytes_cell(n: int) -> tuple[str, int]:
    from mlxa.units import format_nbytes

    return format_nbytes(n), n


def flops_cell(n: int) -> tuple[str, int]:
    from mlxa.units import format_flops

    return format_flops(n), n


def shape(dims: Iterable[int]) -> str:
    return "x".join(map(str, dims)) or "scalar"


# -- one function per study: (data, text as printed, picture) -> the page ---------------------

def machine_html(c: Any, text: str, png: bytes | None) -> str:
    """`mlxa machine`: c is machine.ceilings.Ceilings."""
    from mlxa.units import format_rate

    t = c.fp32_theoretical
    dram = c.plateaus[-1].copy_bytes_per_s if c.plateaus else None
    summary = cards([(format_rate(c.fp32.ops_per_s, "FLOP"), f"FP32 peak measured, {c.threads} "
                      "BLAS thread(s)"),
                     (format_rate(t.flops_per_s, "FLOP"), "FP32 peak theoretical"),
                     (format_rate(c.int8.ops_per_s, "OP") if c.int8 else "not measured",
                      "INT8 peak"),
                     (format_rate(dram, "B") if dram else "-", "DRAM copy bandwidth, one thread"),
                     (str(len(c.plateaus)), "plateaus of the copy curve")])
    bw = [(nbytes_cell(p.working_set_nbytes), num(p.copy_bytes_per_s, ".2f", 1e-9),
           num(p.copy_nbytes / p.copy.median_s, ".2f", 1e-9),
           num(p.triad_bytes_per_s, ".2f", 1e-9),
           num(p.triad_nbytes / p.triad.median_s, ".2f", 1e-9), num(p.copy.spread_ratio, ".2f"),
           num(p.reread_bytes_per_s, ".2f", 1e-9))
          for p in c.bandwidth]
    plateaus = [(p.name, nbytes_cell(p.first_nbytes), nbytes_cell(p.last_nbytes),
                 num(p.copy_bytes_per_s, ".2f", 1e-9)) for p in c.plateaus]
    peaks = [(name, num(k.ops_per_s, ".1f", 1e-9), num(k.ops / k.time.median_s, ".1f", 1e-9),
              str(k.time.n), k.how) for name, k in (("FP32", c.fp32), ("INT8", c.int8)) if k]
    sections = [
        ("bandwidth", "Bandwidth by working set",
         how("STREAM copy and triad in numpy ufuncs on one thread, at each working set (bytes of "
             "every array touched); GB/s counts STREAM's bytes (copy 2x, triad 3x the array), "
             "best of the trials and the median; spread = p90/p10 of the copy time; reread = a "
             f"{nbytes_cell(c.reread_nbytes)[0]} buffer read right after that copy (how fast a "
             "weight comes back after a round of other memory: the roofline's rate for far "
             "reads).")
         + table(("working set", "copy best GB/s", "copy median GB/s", "triad best GB/s",
                  "triad median GB/s", "spread", "reread best GB/s"), bw, sortable=True)),
        ("plateaus", "Plateaus",
         how("runs of working sets whose copy rate stays within 1.3x of the run's median: the "
             "cache levels as measured; the last is DRAM.")
         + table(("level", "from", "to", "copy GB/s"), plateaus, "l", sortable=True)),
        ("compute", "Compute peaks",
         how(f"the best of timed BLAS calls (FP32) and integer GEMMs (INT8); theoretical = "
             f"{t.cores} cores x {t.ghz:.2f} GHz ({t.ghz_source}) x {t.simd_lanes} lanes x "
             f"{t.fma_units} FMA units x 2; {t.assumption}."
             + (f" INT8: {c.int8_note}" if c.int8_note else ""))
         + table(("peak", "best GOP/s", "median GOP/s", "trials", "how"), peaks, "0,4",
                 sortable=True)),
        ("picture", "Bandwidth curve", picture(png, "bandwidth by working set"))]
    machine = machine_facts(c.machine, [("fingerprint", c.fingerprint), ("measured", c.date),
                                        ("took", f"{c.measured_s:.1f} s"),
                                        ("load (1 min)", c.load_average)])
    return study_page("mlxa machine", f"{c.machine.get('cpu', '?')}, {c.date}", summary,
                      sections, machine, text, c.warnings)


def roofline_html(r: Any, ceilings: Any, text: str) -> str:
    """`mlxa roofline`: r is analysis.roofline.RooflineResult, ceilings the machine's."""
    from mlxa.analysis.roofline import time_unit
    from mlxa.report.svg_roofline import COLORS, Ceilings, Point, roofline_svg

    key = {"compiled": "optimized", "eager": "baseline"}
    pts = [Point(key.get(ex.executor, "optimized"), f"{w.work.label} {w.work.op}",
                 w.work.flops, w.work.moved_nbytes, w.measured_ms, w.share_pct)
           for ex in r.executors for w in ex.rows
           if w.work.flops > 0 and w.work.moved_nbytes > 0 and w.measured_ms > 0]
    roofs = Ceilings(r.peak_flops_per_s,
                     tuple((p.name, p.copy_bytes_per_s) for p in ceilings.plateaus),
                     f"ceilings {ceilings.fingerprint}")
    summary = cards([(f"{r.peak_flops_per_s / 1e9:.1f} GFLOP/s", "compute roof (median)")]
                    + [(_seconds(ex.end_to_end.median_s), f"{ex.executor} end-to-end "
                        f"median; roofline within 2x for {ex.within_pct:.0f}% of the time")
                       for ex in r.executors])
    legend = "".join(f'<i style="background:{COLORS[k]}"></i>{name}'
                     for k, name in (("baseline", "eager"), ("optimized", "compiled")))
    sections = [("picture", "Roofline",
                 how("one point per timed node (area: its share of the executor's time): "
                     "GFLOP/s = the op table's FLOPs / the node's median time; intensity = FLOPs "
                     "/ bytes moved; roofs: the compute roof and each plateau's copy bandwidth.")
                 + f'<div class="legend">{legend}</div>'
                 + f'<div class="frame plain">{roofline_svg(pts, roofs)}</div>')]
    for ex in r.executors:
        sections.append((f"nodes-{esc(ex.executor)}", f"Nodes, {ex.executor}",
                         how(f"median of {ex.rounds} rounds per node, timer overhead "
                             f"{ex.timer_overhead_ms * 1e3:.3f} us subtracted; predicted = "
                             f"call floor ({r.call_floor_s * 1e6:.2f} us; row in: the load floor, "
                             f"{r.load_floor_s * 1e6:.2f} us) + max(FLOPs / peak, memory time);"
                             " memory time = near bytes / copy bandwidth at "
                             "the working set + far bytes (inputs last touched further back "
                             "than the working set) / the reread rate at their reuse distance; "
                             "efficiency = predicted / measured.")
                         + _roofline_rows(ex.rows, *time_unit(ex.end_to_end.median_s))))
    scale, unit = time_unit(r.executors[0].end_to_end.median_s)
    lost = [(w.work.label, w.work.op, num(w.lost_ms, ".3f", scale),
             num(w.measured_ms, ".3f", scale), num(w.predicted_ms, ".3f", scale), w.hint)
            for w in r.top_lost()]
    sections.append(("lost", "Time lost against the roof",
                     how("measured - predicted, compiled nodes, the ten largest.")
                     + table(("node", "op", f"lost {unit}", f"measured {unit}",
                              f"predicted {unit}", "hint"), lost, "0,1,5", sortable=True)))
    machine = machine_facts(r.meta, [("ceilings", f"{r.ceilings_fingerprint} "
                                                  f"({r.ceilings_note})")])
    return study_page(f"mlxa roofline: {r.model}", f"{r.description}; inputs "
                      f"{', '.join(r.inputs)}", summary, sections, machine, text, r.warnings)


def _seconds(s: float) -> str:
    """An end-to-end time in the unit its rows are printed in (analysis.roofline.time_unit)."""
    from mlxa.analysis.roofline import time_unit

    scale, unit = time_unit(s)
    return f"{s * 1e3 * scale:.3f} {unit}"


def _roofline_rows(rows: Sequence[Any], scale: float = 1.0, unit: str = "ms") -> str:
    out = [((w.work.label, w.work.index), w.work.op, shape(w.work.shape),
            num(w.measured_ms, ".4f", scale), num(w.share_pct, ".1f"), flops_cell(w.work.flops),
            nbytes_cell(w.work.moved_nbytes), nbytes_cell(w.far_nbytes),
            num(w.work.intensity_flops_per_byte, ".2f"),
            num(w.achieved_flops_per_s, ".2f", 1e-9), num(w.roof_flops_per_s, ".1f", 1e-9),
            num(w.predicted_ms, ".4f", scale), num(w.efficiency_ratio, ".0%"), w.bound)
           for w in sorted(rows, key=lambda w: -w.measured_ms)]
    return table(("node", "op", "shape", unit, "share %", "FLOPs", "bytes", "far bytes",
                  "FLOP/B", "GFLOP/s", "roof GFLOP/s", f"pred {unit}", "eff", "bound"), out,
                 "1,2,13", sortable=True)


def fusion_html(r: Any, text: str, png: bytes | None) -> str:
    """`mlxa fusion`: r is studies.fusion.FusionResult."""
    from mlxa.report.fusion_text import bound_note
    from mlxa.studies.fusion import PAIRS

    best = [(s.ratio(e, j), f"{c.name} {e}/{j}") for c in r.chains for s in c.sizes
            for e, j in PAIRS if s.ratio(e, j) is not None]
    top = max(best, default=None)
    summary = cards([(str(len(r.chains)), "chains"), (str(len(r.backends)), "backends"),
                     (f"{r.threads}", "thread(s) per backend")]
                    + ([(f"{top[0]:.2f}x", f"largest eager/JIT time ratio ({top[1]})")]
                       if top else []))
    chains = [(c.name, c.label, c.expr, str(c.flops_per_element),
               num(c.intensity_flops_per_byte, ".2f"), bound_note(c)) for c in r.chains]
    cells = [(c.name, nbytes_cell(s.x_nbytes), cell.backend, cell.kind,
              num(cell.time.median_s, ".4f", 1e3), num(s.bytes_per_s(cell), ".2f", 1e-9),
              f"{s.traffic_nbytes / cell.time.p90_s / 1e9:.1f}.."
              f"{s.traffic_nbytes / cell.time.p10_s / 1e9:.1f}",
              num(s.copy_fraction(cell), ".0%"), num(s.copy_bytes_per_s, ".2f", 1e-9),
              "?" if cell.kernels is None else str(cell.kernels), num(cell.max_error, ".1e"))
             for c in r.chains for s in c.sizes for cell in s.cells]
    sections = [
        ("chains", "Chains", how("FLOPs per element from the op table; intensity = FLOPs / 8 "
                                 "bytes (read x, write y once); bound judged at the largest size.")
         + table(("chain", "kind", "expression", "FLOP/element", "FLOP/B", "bound"), chains,
                 "0,1,2,5", sortable=True)),
        ("cells", "Every backend at every size",
         how("median time of interleaved trials within the budget; GB/s = the chain's minimum "
             "traffic / median time, [p10..p90]; % of copy = against a numpy copy timed in the "
             "same rounds at that size; kernels = kernels per call; error = max |y - ref|.")
         + table(("chain", "x size", "backend", "kind", "median ms", "GB/s", "GB/s p10..p90",
                  "% of copy", "copy GB/s", "kernels", "error"), cells, "0,2,3",
                 sortable=True)),
        ("picture", "Picture", picture(png, "fusion study"))]
    if r.skipped:
        sections.append(("skipped", "Skipped", table(("backend", "chain", "note"),
                         [(s.backend, s.chain, s.note) for s in r.skipped], "0,1,2")))
    machine = machine_facts(r.meta, [("ceilings", r.ceilings_fingerprint or "none")])
    return study_page("mlxa fusion", f"{r.meta.get('cpu', '')}, {r.meta.get('date', '')}",
                      summary, sections, machine, text, r.warnings)


def quantize_html(report: Mapping[str, Any], text: str, png: bytes | None) -> str:
    """`mlxa quantize`: report is the study's JSON data (studies/quantization.py)."""
    from mlxa.report.quantization_text import LATENCY_ROWS

    models = report["models"]
    summary = cards([(f"{s['size']['ratio']:.2f}x", f"{s['model']}: INT8 smaller") for s in models]
                    + [(f"{s['latency_ms']['mlxa_fp32'] / s['latency_ms']['mlxa_int8']:.2f}x",
                        f"{s['model']}: mlxa INT8 speed vs FP32") for s in models
                       if s["latency_ms"].get("mlxa_int8") and s["latency_ms"].get("mlxa_fp32")]
                    + [(f"{100 * s['coverage']['share']:.1f}%", f"{s['model']}: FLOPs in integer "
                        "kernels") for s in models])
    labels = dict(LATENCY_ROWS)
    size = [(s["model"], nbytes_cell(s["size"]["fp32_nbytes"]),
             nbytes_cell(s["size"]["int8_nbytes"]), num(s["size"]["ratio"], ".2f"),
             nbytes_cell(s["arena"]["fp32_arena_nbytes"]),
             nbytes_cell(s["arena"]["int8_arena_nbytes"])) for s in models]
    latency = [(s["model"], labels.get(k, k), num(ms, ".3f")) for s in models
               for k, ms in s["latency_ms"].items()]
    accuracy = [(s["model"], k, num(db, ".2f"),
                 num(s["accuracy"]["top1_agreement"].get(k), ".1f", 100),
                 num(s["accuracy"]["task_top1"].get(k), ".2f", 100))
                for s in models for k, db in s["accuracy"]["output_sqnr_db"].items()]
    floats = [(s["model"], o["op"], str(o["count"]), flops_cell(o["flops"]), o["reason"])
              for s in models for o in s["coverage"]["float_ops"]]
    flags = [(s["model"], f) for s in models for f in s["flags"]]
    sections = [
        ("size", "Size and arena", how("bytes of the parameters: FP32 floats vs INT8 weights + "
                                       "scales and zero points + int32 biases + float params; "
                                       "arena: the planner's arena of each compiled program.")
         + table(("model", "FP32", "INT8", "smaller", "FP32 arena", "INT8 arena"), size, "l",
                 sortable=True)),
        ("latency", "Latency", how("median of timed turns, interleaved within mlxa's pair and "
                                   "within ONNX Runtime's group, within --budget per model.")
         + table(("model", "path", "median ms"), latency, "0,1", sortable=True)),
        ("accuracy", "Accuracy", how("over the evaluation inputs: output SQNR and top-1 "
                                     "agreement against FP32; task top-1 against labels where "
                                     "the model has them (digits_cnn's held-out split).")
         + table(("model", "path", "SQNR dB", "agreement %", "task top-1 %"), accuracy, "0,1",
                 sortable=True)),
        ("coverage", "Left in float", how("ops the quantizer leaves in float, with the op "
                                          "table's FLOPs and why.")
         + table(("model", "op", "count", "FLOPs", "reason"), floats, "0,1,4", sortable=True)),
        ("picture", "Picture", picture(png, "quantization study"))]
    if flags:
        sections.append(("flags", "Flags", table(("model", "flag"), flags, "0,1")))
    meta = report["meta"]
    names = ", ".join(s["model"] for s in models)
    return study_page(f"mlxa quantize: {names}", f"{meta.get('cpu', '')}, {meta.get('date', '')}",
                      summary, sections, machine_facts(meta), text)


def layout_html(r: Any, text: str, png: bytes | None) -> str:
    """`mlxa layout`: r is studies.layout.LayoutResult."""
    summary = cards([(f"{100 * m.agreement:.0f}%", f"{m.model}: prediction agrees "
                      f"({len(m.convs)} convs)") for m in r.models]
                    + [(str(r.simd_floats), "SIMD width in floats"),
                       (str(r.block), "NCHWc block"), (str(r.threads), "thread(s)")])
    keys = (("mlxa", "nchw"), ("mlxa", "nhwc"), ("mlxa", "nchwc"), ("torch", "nchw"),
            ("torch", "nhwc"), ("ort", "nchw"), ("ort", "nchwc"))
    convs = [(m.model, c.name, shape(c.x_shape), shape(c.w_shape), c.kernel,
              *(num(getattr(c, f"{rt}_ms").get(k), ".3f") for rt, k in keys),
              c.predicted, c.measured, "ok" if c.agrees else "MISS")
             for m in r.models for c in m.convs]
    transposes = [(m.model, t.layout, num(t.model_ms, ".2f"), str(t.relayouts),
                   num(t.relayout_ms, ".3f"), num(t.share, ".2f", 100))
                  for m in r.models for t in m.transposes]
    sections = [
        ("convs", "Every conv in every layout",
         how("median ms of each conv geometry in each layout and runtime, timed in turns within "
             "--budget; predicted: the rule below; measured: the fastest mlxa layout (ties "
             "within noise count as agreeing). Rule: " + r.rule)
         + table(("model", "conv", "x (nchw)", "w", "kernel",
                  *(f"{rt} {k} ms" for rt, k in keys), "predicted", "measured", "agrees"),
                 convs, "0,1,2,3,4,12,13,14", sortable=True)),
        ("transposes", "Whole model",
         how("each model compiled in each layout; relayouts = the transposes the conversion "
             "inserts, their time and share of node time.")
         + table(("model", "layout", "model ms", "relayouts", "relayout ms", "share %"),
                 transposes, "0,1", sortable=True)),
        ("picture", "Picture", picture(png, "layout study"))]
    return study_page("mlxa layout: " + ", ".join(m.model for m in r.models),
                      str(r.meta.get("cpu", "")), summary, sections, machine_facts(r.meta),
                      text, r.warnings)


def sparsity_html(r: Any, text: str, png: bytes | None) -> str:
    """`mlxa sparsity`: r is studies.sparsity.SparsityResult."""
    c = r.channel
    summary = cards([(f"{c.compiled_speedup:.2f}x", f"compiled speedup, channels pruned at "
                      f"{100 * c.level:.0f}%"),
                     (f"{c.eager_speedup:.2f}x", "eager speedup, channels pruned"),
                     (f"{c.flops_before / c.flops_after:.2f}x", "fewer FLOPs, channels pruned"),
                     ("PASS" if c.same_outputs else "FAIL", "removed vs zeroed model, oracle")]
                    + ([(f"{100 * r.dense_top1:.1f}%", "digits_cnn dense top-1")]
                       if r.accuracy else []))
    levels = [(x.pattern, num(x.level, ".0f", 100), num(x.zeros, ".0f"), num(x.weights, ".0f"),
               num(x.zeros / x.weights, ".2f", 100), num(x.skippable_flops / x.flops, ".2f", 100),
               f"{x.layers_pruned} of {x.layers}") for x in r.levels]
    layers = [(t.pattern, num(t.level, ".0f", 100), x.name, shape(x.weight_shape),
               num(x.zeros, ".0f"), num(x.sparsity, ".2f", 100),
               num(x.skippable_flops, ".2f", 1e-6), num(x.flops, ".2f", 1e-6))
              for t in r.layers for x in t.layers]
    even = [(shape(b.shape), num(b.dense_ms, ".3f"), num(b.csr_density, ".1f", 100),
             num(b.block_density, ".1f", 100), ", ".join(b.layers)) for b in r.break_even]
    runtimes = [(z.runtime, num(z.dense_ms, ".2f"), num(z.pruned_ms, ".2f"), num(z.ratio, ".2f"),
                 num(z.noise, ".2f")) for z in r.runtimes]
    acc = [(p.pattern, num(p.level, ".0f", 100), num(p.sparsity, ".1f", 100),
            num(p.top1, ".1f", 100)) for p in r.accuracy]
    sections = [
        ("pruning", "Pruning", how("exact zeros counted in the pruned weights; skippable FLOPs: "
                                   "the products by a zero weight, from the op table.")
         + table(("pattern", "level %", "zeros", "weights", "sparsity %", "skippable FLOPs %",
                  "layers pruned"), levels, "l", sortable=True)
         + table(("pattern", "level %", "layer", "weight", "zeros", "sparsity %",
                  "skippable MFLOPs", "MFLOPs"), layers, "0,2,3", sortable=True)),
        ("break-even", "Break-even density",
         how("per product W[O,K] @ X[K,N]: the density below which the sparse kernel (CSR, "
             "block) beats dense BLAS, found by bisection on timed probes within "
             "--probe-budget; 100% = sparse always wins, 1% = never.")
         + table(("O x K x N", "dense ms", "CSR %", "block %", "layers"), even, "0,4",
                 sortable=True)),
        ("runtimes", "Dense kernels on zeros",
         how(f"the model dense vs {100 * r.runtime_level:.0f}% unstructured-pruned in each "
             "runtime, timed in turns; dense again/dense is the noise.")
         + table(("runtime", "dense ms", "pruned ms", "pruned/dense", "noise"), runtimes, "l",
                 sortable=True)),
        ("channel", "Channel pruning",
         how("channels removed from the graph (not zeroed), eager and compiled timed in turns "
             "within --model-budget; the oracle compares the removed model with the zeroed one.")
         + kv([("FLOPs", f"{c.flops_before:,} -> {c.flops_after:,}"),
               ("weights", f"{c.params_before:,} -> {c.params_after:,}"),
               ("eager ms", f"{c.eager_ms[0]:.2f} -> {c.eager_ms[1]:.2f}"),
               ("compiled ms", f"{c.compiled_ms[0]:.2f} -> {c.compiled_ms[1]:.2f}")]))]
    if acc:
        sections.append(("accuracy", "Accuracy", how("digits_cnn's held-out split, top-1 "
                                                     "without fine-tuning.")
                         + table(("pattern", "level %", "zeros %", "top-1 %"), acc, "l",
                                 sortable=True)))
    sections.append(("picture", "Picture", picture(png, "sparsity study")))
    return study_page(f"mlxa sparsity: {r.model}", f"batch {r.batch}, {r.image}x{r.image}, "
                      f"{r.threads} thread(s); {r.meta.get('cpu', '')}", summary, sections,
                      machine_facts(r.meta), text, r.warnings)


def kernels_html(results: Sequence[Any], meta: Mapping[str, Any], text: str) -> str:
    """`mlxa kernels`: results are studies.kernels.CaseResult."""
    def fastest(c: Any) -> tuple[str, str]:
        timed = [x for x in c.rows if x.best_ms is not None]
        best = min(timed, key=lambda x: x.best_ms, default=None)
        return ((f"{best.best_ms:.3f} ms", f"{c.name}: fastest {best.backend}") if best
                else ("-", f"{c.name}: nothing timed"))
    cases = [(c.name, c.description, num(c.flops, ".1f", 1e-6),
              num(c.compulsory_nbytes, ".2f", 2**-20), num(c.eager_error, ".1e"),
              num(c.oracle_bound, ".1e")) for c in results]
    rows = [(c.name, x.backend, num(x.best_ms, ".3f"), num(x.median_ms, ".3f"),
             num(x.gb_per_s, ".1f"), num(x.gflop_per_s, ".1f"), num(x.error, ".1e"),
             x.kernel or x.note) for c in results for x in c.rows]
    sections = [
        ("cases", "Cases", how("FLOPs from the op table; compulsory traffic: inputs, weights "
                               "and outputs once; errors: max |y - ref| / max |ref|, ref in "
                               "float64.")
         + table(("case", "description", "MFLOP", "MiB", "eager error", "oracle bound"), cases,
                 "0,1", sortable=True)),
        ("backends", "Every backend",
         how("best and median of interleaved turns within --budget per case; GB/s and GFLOP/s "
             "at the best time against the compulsory traffic and the FLOPs.")
         + table(("case", "backend", "best ms", "median ms", "GB/s", "GFLOP/s", "error",
                  "kernel / note"), rows, "0,1,7", sortable=True))]
    return study_page("mlxa kernels", ", ".join(c.name for c in results),
                      cards(fastest(c) for c in results), sections, machine_facts(meta), text)
