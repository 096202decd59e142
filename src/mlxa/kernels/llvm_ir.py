"""Writing a kernel as LLVM IR (llvmlite, which Numba ships on) and compiling it for this CPU:
the one place mlxa's microkernels (microkernel.py, depthwise_ir.py) get their IR helpers and
their machine code.

`Emitter` wraps an IR builder with what a vector kernel needs: integer constants, splats,
counted loops that carry values (the accumulators) as phis, masked vector loads and stores,
fused multiply-adds and a clamp. `compile_function` runs LLVM's O3 pipeline for the host CPU
and returns the function as a `Kernel`, callable with its arguments, plus an entry taking one
pointer to them; its code lives as long as the process. `Call` binds one call of it: the
arguments written once into slots (one ctypes conversion per call instead of one per argument:
1.75 us of a 14-argument call), and the arrays its pointers point into. A Call is a
functools.partial of the entry and the slots' address, so calling it runs no Python frame of
ours: 0.14 us, against 0.24 through a method.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable, Sequence
from typing import Any

from mlxa.interrupts import held

_ENGINES: list[Any] = []  # execution engines: their code lives as long as the process


@functools.cache
def host_features() -> frozenset[str]:
    """The CPU features LLVM sees on this host (avx512f, avx2, fma, ...)."""
    import llvmlite.binding as llvm

    return frozenset(k for k, on in llvm.get_host_cpu_features().items() if on)


class Kernel:
    """A compiled function, callable with its arguments (a ctypes call converts each, about
    0.12 us apiece: 1.75 us for the microkernel's 14), and its entry taking one pointer to
    them laid out in 8-byte slots (`Call`: one conversion per call)."""

    __slots__ = ("direct", "entry", "floats")

    def __init__(self, direct: Callable[..., None], entry: Callable[[Any], None],
                 floats: tuple[bool, ...]) -> None:
        self.direct, self.entry, self.floats = direct, entry, floats

    def __call__(self, *args: Any) -> None:
        self.direct(*args)


def compile_function(module: Any, name: str) -> Kernel:
    """`name` of the llvmlite.ir `module` (arguments: pointers, i64 and float; returning
    nothing), optimized at O3 for this CPU, as a Kernel; its ctypes signature is read from the
    IR's. A signal waits until it is built (interrupts.held): llvmlite calls back into Python
    while it compiles, where an exception would be dropped, and leaves half-built objects."""
    with held():
        return _compile(module, name)


def _compile(module: Any, name: str) -> Kernel:
    import llvmlite.binding as llvm

    argtypes = _add_block_entry(module, name)
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    parsed = llvm.parse_assembly(str(module))
    parsed.verify()
    target = llvm.Target.from_default_triple().create_target_machine(
        cpu=llvm.get_host_cpu_name(), features=llvm.get_host_cpu_features().flatten(), opt=3)
    builder = llvm.create_pass_builder(target, llvm.create_pipeline_tuning_options(speed_level=3))
    builder.getModulePassManager().run(parsed, builder)
    engine = llvm.create_mcjit_compiler(parsed, target)
    engine.finalize_object()
    _ENGINES.append(engine)
    direct = ctypes.CFUNCTYPE(None, *argtypes)(engine.get_function_address(name))
    entry = ctypes.CFUNCTYPE(None, ctypes.c_void_p)(engine.get_function_address(name + "_slots"))
    return Kernel(direct, entry, tuple(t is ctypes.c_float for t in argtypes))


def _add_block_entry(module: Any, name: str) -> tuple[Any, ...]:
    """Adds `name`_slots(i64* slots), which loads each argument of `name` from its 8-byte slot
    (a pointer or an int64 as is, a float as the double it was written as) and calls it;
    returns the arguments' ctypes types. Other argument types are refused."""
    from llvmlite import ir

    fn = module.get_global(name)
    i64 = ir.IntType(64)
    wrapper = ir.Function(module, ir.FunctionType(ir.VoidType(), [i64.as_pointer()]),
                          name=name + "_slots")
    b = ir.IRBuilder(wrapper.append_basic_block("entry"))
    slots = wrapper.args[0]
    args: list[Any] = []
    argtypes: list[Any] = []
    for i, arg in enumerate(fn.args):
        slot = b.load(b.gep(slots, [ir.Constant(i64, i)]))
        if isinstance(arg.type, ir.PointerType):
            args.append(b.inttoptr(slot, arg.type))
            argtypes.append(ctypes.c_void_p)
        elif isinstance(arg.type, ir.FloatType):
            args.append(b.fptrunc(b.bitcast(slot, ir.DoubleType()), arg.type))
            argtypes.append(ctypes.c_float)
        elif arg.type == i64:
            args.append(slot)
            argtypes.append(ctypes.c_int64)
        else:
            raise TypeError(f"{name}: argument {i} is {arg.type}; slots hold pointers, i64 "
                            "and float")
    b.call(fn, args)
    b.ret_void()
    return tuple(argtypes)


class Call(functools.partial):  # type: ignore[type-arg]
    """One call of a Kernel: its arguments (pointers as integers) written once into 8-byte
    slots, and the arrays they point into, held; calling it calls the kernel's entry with the
    slots' address (functools.partial's own call)."""

    __slots__ = ("kernel", "arrays", "slots")
    kernel: Kernel
    arrays: tuple[Any, ...]
    slots: Any  # the int64 array of the arguments

    def __new__(cls, kernel: Kernel, arrays: tuple[Any, ...], args: tuple[float, ...]) -> Call:
        import numpy as np

        if len(args) != len(kernel.floats):
            raise ValueError(f"{len(args)} arguments for a kernel of {len(kernel.floats)}")
        slots = np.zeros(len(args), np.int64)
        as_float = slots.view(np.float64)
        for i, (value, is_float) in enumerate(zip(args, kernel.floats)):
            if is_float:
                as_float[i] = value
            else:
                slots[i] = int(value)
        return _with_slots(cls, kernel, arrays, slots)

    def __reduce__(self) -> tuple[Any, ...]:
        """A copy shares the slots (and so points where this call does)."""
        return _with_slots, (type(self), self.kernel, self.arrays, self.slots)


def _with_slots(cls: type[Call], kernel: Kernel, arrays: tuple[Any, ...], slots: Any) -> Call:
    self = functools.partial.__new__(cls, kernel.entry, ctypes.c_void_p(slots.ctypes.data))
    self.kernel, self.arrays, self.slots = kernel, arrays, slots
    return self


class Emitter:
    """An IR builder positioned in a new function `name` of `module`, for vectors of `vl`
    floats."""

    def __init__(self, module: Any, name: str, args: Sequence[Any], vl: int) -> None:
        from llvmlite import ir

        self.ir, self.vl = ir, vl
        self.f32, self.i64, self.i32 = ir.FloatType(), ir.IntType(64), ir.IntType(32)
        self.vec = ir.VectorType(self.f32, vl)
        self.vptr = self.vec.as_pointer()
        self.fn = ir.Function(module, ir.FunctionType(ir.VoidType(), list(args)), name=name)
        self.b = ir.IRBuilder(self.fn.append_basic_block("entry"))
        self.module = module
        self.lanes = ir.Constant(ir.VectorType(self.i64, vl), list(range(vl)))
        self._intrinsics: dict[str, Any] = {}

    def const(self, v: int) -> Any:
        return self.ir.Constant(self.i64, v)

    def splat(self, value: Any) -> Any:
        """`value` (a float or an i64) in every lane."""
        ty = self.ir.VectorType(value.type, self.vl)
        one = self.b.insert_element(self.ir.Constant(ty, self.ir.Undefined), value,
                                    self.ir.Constant(self.i32, 0))
        return self.b.shuffle_vector(one, self.ir.Constant(ty, self.ir.Undefined),
                                     self.ir.Constant(self.ir.VectorType(self.i32, self.vl),
                                                      [0] * self.vl))

    def intrinsic(self, name: str, arity: int) -> Any:
        """A float-vector intrinsic (llvm.fma) of this width."""
        if name not in self._intrinsics:
            ty = self.ir.FunctionType(self.vec, [self.vec] * arity)
            self._intrinsics[name] = self.ir.Function(self.module, ty,
                                                      name=f"{name}.v{self.vl}f32")
        return self._intrinsics[name]

    def fma(self, a: Any, x: Any, acc: Any) -> Any:
        return self.b.call(self.intrinsic("llvm.fma", 3), [a, x, acc])

    def every_other(self, first: Any, second: Any, odd: bool = False) -> Any:
        """The even (or odd) lanes of the 2 x vl floats `first` then `second`: a stride-2 read
        of two loaded vectors."""
        index = self.ir.Constant(self.ir.VectorType(self.i32, self.vl),
                                 list(range(int(odd), 2 * self.vl, 2)))
        return self.b.shuffle_vector(first, second, index)

    def clamp(self, v: Any, lo: Any, hi: Any) -> Any:
        """min(max(v, lo), hi), lane by lane (lo and hi are vectors); a NaN stays NaN, as in
        np.clip. Compare and select: one vmaxps / vminps each (llvm.maxnum's NaN rule costs
        two more instructions)."""
        b = self.b
        v = b.select(b.fcmp_ordered("<", v, lo), lo, v)
        return b.select(b.fcmp_ordered(">", v, hi), hi, v)

    def pointer(self, base: Any, offset: Any) -> Any:
        """A vector pointer to base[offset] (a float pointer and an i64)."""
        return self.b.bitcast(self.b.gep(base, [offset]), self.vptr)

    def mask(self, count: Any) -> Any:
        """The lanes below `count` (an i64; all of them from vl up)."""
        return self.b.icmp_signed("<", self.lanes, self.splat(count))

    def load(self, base: Any, offset: Any, mask: Any = None, fill: float = 0.0) -> Any:
        """A vector at base + offset; with a mask, only its lanes are read, the others `fill`."""
        ptr = self.pointer(base, offset)
        if mask is None:
            return self.b.load(ptr, align=4)
        fn = self._masked("load")
        rest = self.ir.Constant(self.vec, None if fill == 0.0 else [fill] * self.vl)
        return self.b.call(fn, [ptr, self.ir.Constant(self.i32, 4), mask, rest])

    def store(self, value: Any, base: Any, offset: Any, mask: Any = None) -> None:
        ptr = self.pointer(base, offset)
        if mask is None:
            self.b.store(value, ptr, align=4)
        else:
            self.b.call(self._masked("store"), [value, ptr, self.ir.Constant(self.i32, 4), mask])

    def _masked(self, kind: str) -> Any:
        key = f"llvm.masked.{kind}"
        if key not in self._intrinsics:
            ir, vec = self.ir, self.vec
            mask_t = ir.VectorType(ir.IntType(1), self.vl)
            ty = (ir.FunctionType(vec, [self.vptr, self.i32, mask_t, vec]) if kind == "load"
                  else ir.FunctionType(ir.VoidType(), [vec, self.vptr, self.i32, mask_t]))
            self._intrinsics[key] = ir.Function(self.module, ty,
                                                name=f"{key}.v{self.vl}f32.p0")
        return self._intrinsics[key]

    def loop(self, start: Any, stop: Any, step: Any,
             body: Callable[[Any, list[Any]], list[Any]],
             carried: Sequence[Any] = ()) -> list[Any]:
        """for i in range(start, stop, step): values = body(i, values), the `carried` values
        kept as phis; returns their values after the loop."""
        b = self.b
        before = b.block
        head, inside, done = (self.fn.append_basic_block(n) for n in ("head", "body", "done"))
        b.branch(head)
        b.position_at_end(head)
        i = b.phi(self.i64)
        i.add_incoming(start, before)
        phis = []
        for value in carried:
            phi = b.phi(value.type)
            phi.add_incoming(value, before)
            phis.append(phi)
        b.cbranch(b.icmp_signed("<", i, stop), inside, done)
        b.position_at_end(inside)
        for phi, value in zip(phis, body(i, phis)):
            phi.add_incoming(value, b.block)
        i.add_incoming(b.add(i, step), b.block)
        b.branch(head)
        b.position_at_end(done)
        return phis


@functools.cache
def empty_call() -> Call:
    """A call of a compiled function that does nothing, made the way every kernel's is: what a
    call costs before its work (the roofline's call floor)."""
    from llvmlite import ir

    module = ir.Module(name="mlxa_empty")
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), []), name="empty")
    ir.IRBuilder(fn.append_basic_block("entry")).ret_void()
    return Call(compile_function(module, "empty"), (), ())
