"""The compiler: passes run in order by one pipeline, then buffers assigned and planned, into a
frozen CompiledProgram that executors bind and run (runtime/) and reports read (session.py)."""

from mlxa.compiler.options import CompileOptions
from mlxa.compiler.pipeline import PASSES, Pass, PassRecord, run_passes
from mlxa.compiler.program import CompiledProgram, compile_program

__all__ = ["PASSES", "CompileOptions", "CompiledProgram", "Pass", "PassRecord",
           "compile_program", "run_passes"]
