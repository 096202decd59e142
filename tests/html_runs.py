"""Runs for the HTML report's tests: zoo models measured quickly (few timed calls), and a run
whose every string from a model, a path or a command line is hostile markup."""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from mlxa.models.zoo import build, get_model
from mlxa.result import RunConfig, RunResult
from mlxa.session import ModelInfo, analyze

# small sizes: the same structure (ResNet-50 keeps its 175 nodes), a fraction of the work
SIZES = {"mlp": {"in_features": 64, "hidden": 256, "out_features": 32},
         "small_cnn": {}, "transformer": {"seq": 16, "d_model": 64, "heads": 4, "d_ff": 128},
         "mobilenet_v2": {"image": 32}, "resnet18": {"image": 32}, "resnet50": {"image": 32}}
EVIL = "<script>window.pwned=1</script>\"'><img src=x onerror=\"window.pwned=2\">&amp;</style>"


@functools.cache
def zoo_run(name: str, per_op: bool = True) -> RunResult:
    graph = build(name, batch=1, **SIZES[name])
    rng = np.random.default_rng(0)
    inputs = tuple(rng.standard_normal(v.shape).astype(v.dtype) for v in graph.inputs)
    info = ModelInfo(name=name, description=get_model(name).description, batch=1)
    return analyze(graph, inputs, RunConfig(warmup=0, repeat=2, per_op=per_op), info)


def hostile_run() -> RunResult:
    """A small run with markup in every string a report shows."""
    run = zoo_run("small_cnn")
    assert run.plan is not None and run.optimized is not None and run.optimized.per_op
    per_op = dataclasses.replace(run.optimized.per_op, nodes=tuple(
        dataclasses.replace(n, name=EVIL, op=EVIL + n.op) for n in run.optimized.per_op.nodes))
    plan = dataclasses.replace(
        run.plan, fusion_groups=(EVIL,), winning_strategy=EVIL,
        buffers=tuple(dataclasses.replace(b, kind=EVIL) for b in run.plan.buffers),
        nodes=tuple(dataclasses.replace(n, name=EVIL, op=EVIL, chain=EVIL)
                    for n in run.plan.nodes),
        planners_arena_nbytes={EVIL: 1}, bound_steps_nbytes=((EVIL, 1),))
    return dataclasses.replace(
        run, model=dataclasses.replace(run.model, name=EVIL, description=EVIL,
                                       inputs=(EVIL,),
                                       ops=tuple(dataclasses.replace(o, op=EVIL)
                                                 for o in run.model.ops)),
        meta=dataclasses.replace(run.meta, cpu=EVIL, command=EVIL, platform=EVIL, date=EVIL,
                                 cpu_flags=(EVIL,), blas={"library": EVIL, "threads": EVIL}),
        optimized=dataclasses.replace(run.optimized, per_op=per_op), plan=plan,
        warnings=(EVIL,))
