"""The marks of a test module of an LLVM IR kernel (kernels/llvm_ir.py and the kernels built on
it): skipped without llvmlite, and the kernels' bind-time trials forced, so that each test runs
the kernel itself rather than whatever its trial would keep."""

from __future__ import annotations

import importlib.util

import pytest

MARKS = [pytest.mark.skipif(importlib.util.find_spec("llvmlite") is None,
                            reason="llvmlite is not installed (pip install 'mlxa[kernels]')"),
         pytest.mark.usefixtures("kernels_forced")]
