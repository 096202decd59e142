"""Renderers of the sparsity study (studies/sparsity.py): text, JSON, and the JSON read back."""

from __future__ import annotations

import json
from typing import Any

from mlxa.studies.sparsity import SparsityResult


def render_json(result: SparsityResult) -> str:
    return json.dumps(result.to_json(), indent=2, allow_nan=False) + "\n"


def load_json(data: dict[str, Any]) -> SparsityResult:
    return SparsityResult.from_json(data)


def _density(d: float | None) -> str:
    """A break-even density; at the search's ends: sparse never wins (< 1%) or always does."""
    if d is None:
        return "      -"
    return "   <1% " if d <= 0.01 else " always" if d >= 1.0 else f"{100 * d:6.1f}%"


def render_text(r: SparsityResult) -> str:
    lines = [f"mlxa sparsity: {r.model} (batch {r.batch}, {r.image}x{r.image}), {r.threads} "
             f"thread(s); {r.meta.get('cpu', '')}"]
    lines += [f"warning: {w}" for w in r.warnings]
    lines += ["", "== pruning: exact zeros and skippable FLOPs (whole model)",
              f"{'pattern':13} {'level':>6} {'zeros':>10} {'of weights':>11} {'sparsity':>9} "
              f"{'skippable FLOPs':>16} {'layers pruned':>14}"]
    for row in r.levels:
        lines.append(f"{row.pattern:13} {100 * row.level:5.0f}% {row.zeros:10d} "
                     f"{row.weights:11d} {100 * row.zeros / row.weights:8.2f}% "
                     f"{100 * row.skippable_flops / row.flops:15.2f}% "
                     f"{row.layers_pruned:>8d} of {row.layers}")
    for table in r.layers:
        lines += ["", f"== per layer, {table.pattern} at {100 * table.level:.0f}%",
                  f"{'layer':28} {'weight':>16} {'zeros':>9} {'sparsity':>9} "
                  f"{'skippable MFLOPs':>17} {'of':>9}"]
        for layer in table.layers:
            lines.append(f"{layer.name[:28]:28} {'x'.join(map(str, layer.weight_shape)):>16} "
                         f"{layer.zeros:9d} {100 * layer.sparsity:8.2f}% "
                         f"{layer.skippable_flops / 1e6:17.2f} {layer.flops / 1e6:9.2f}"
                         + ("" if layer.pruned else "  (pattern does not fit: dense)"))
    lines += ["", "== break-even density per product W[O,K] @ X[K,N] (below it the sparse "
              "kernel beats dense BLAS)",
              f"{'O x K x N':>18} {'dense ms':>9} {'CSR':>8} {'block':>8}  layers"]
    for b in r.break_even:
        lines.append(f"{'x'.join(map(str, b.shape)):>18} {b.dense_ms:9.3f} "
                     f"{_density(b.csr_density)} {_density(b.block_density)}  "
                     + ", ".join(b.layers[:3]) + (" ..." if len(b.layers) > 3 else ""))
    lines += ["", f"== dense kernels and zeros: the model dense vs {100 * r.runtime_level:.0f}% "
              "unstructured-pruned"]
    for z in r.runtimes:
        lines.append(f"  {z.runtime:5} dense {z.dense_ms:9.2f} ms  pruned {z.pruned_ms:9.2f} ms"
                     f"  pruned/dense {z.ratio:.2f}  (dense again/dense {z.noise:.2f}: the "
                     "noise)")
    c = r.channel
    lines += ["", f"== channel pruning at {100 * c.level:.0f}%, channels removed: FLOPs "
              f"{c.flops_before / 1e9:.2f} G -> {c.flops_after / 1e9:.2f} G "
              f"({c.flops_before / c.flops_after:.2f}x fewer), weights {c.params_before} -> "
              f"{c.params_after}",
              f"  eager    {c.eager_ms[0]:9.2f} ms -> {c.eager_ms[1]:9.2f} ms: speedup "
              f"{c.eager_speedup:.2f}x",
              f"  compiled {c.compiled_ms[0]:9.2f} ms -> {c.compiled_ms[1]:9.2f} ms: speedup "
              f"{c.compiled_speedup:.2f}x",
              f"  removed model vs zeroed model, oracle: {'PASS' if c.same_outputs else 'FAIL'}"]
    if r.accuracy:
        lines += ["", f"== digits_cnn top-1 without fine-tuning (dense {100 * r.dense_top1:.1f}%)"]
        for p in r.accuracy:
            lines.append(f"  {p.pattern:13} level {100 * p.level:3.0f}%  weights zero "
                         f"{100 * p.sparsity:5.1f}%  top-1 {100 * p.top1:5.1f}%")
    return "\n".join(lines) + "\n"
