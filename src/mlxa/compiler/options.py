"""What a compilation does: which passes run, which planner places the buffers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from mlxa.planners.contract import ALIGNMENT

if TYPE_CHECKING:
    from mlxa.passes.quantize import QuantizeSpec
    from mlxa.passes.sparsify import SparsifySpec


@dataclass(frozen=True)
class CompileOptions:
    planner: str = "best"
    alignment: int = ALIGNMENT
    fuse: bool = True
    inplace: bool = True
    # Folding reorders float32 rounding ((w*s)x vs s(wx)): the correctness oracle judges the
    # compiled outputs against the eager error, so this is allowed by design.
    fold_bn: bool = True
    # Off by default: it pays where independent branches differ in size (long-sequence attention
    # saves one projection, 1 of 11 MiB at seq 512); on the zoo's defaults the bound stays.
    reorder: bool = False
    # Check the IR's invariants after every pass (tests turn it on; cheap, O(nodes)).
    verify: bool = False
    # Post-training INT8 quantization (passes/quantize.py), then the integer lowering when the
    # spec asks for it (passes/lower_qdq.py); None: the model stays float.
    quantize: QuantizeSpec | None = None
    # Activation layout of the convs, pools and norms (passes/layout.py): nchw (no pass), nhwc,
    # or nchwc in blocks of layout_block channels (0: this CPU's SIMD width in floats).
    layout: str = "nchw"
    layout_block: int = 0
    # Magnitude pruning (passes/sparsify.py); the channel pattern removes the channels
    # (passes/prune_channels.py: smaller convs). None: the weights stay as they are.
    sparsify: SparsifySpec | None = None
    # Custom kernels (mlxa.kernels) the compiled executor may bind, by name or technique
    # ("epilogue", "prepack", "numba"; "all": every registered one): chosen per node at bind
    # time where a kernel's predicate holds and its library is installed; () binds the op table.
    kernels: tuple[str, ...] = ("all",)

    def pass_names(self) -> tuple[str, ...]:
        """The passes these options run, in pipeline order."""
        quantize = self.quantize is not None
        flags = {"fold_batch_norm": self.fold_bn, "sparsify": self.sparsify is not None,
                 "quantize": quantize,
                 "lower_qdq": quantize and self.quantize is not None and self.quantize.integer,
                 "convert_layout": self.layout != "nchw",
                 "fuse_elementwise": self.fuse,
                 "reorder_for_memory": self.reorder}
        return tuple(name for name, on in flags.items() if on)
