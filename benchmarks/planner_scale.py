"""Planning at scale: `mlxa plan`'s auto strategy on unseen large instances, as medians.

Instances: the repo's random instance generator (planners/instance.py, random_instance: uniform
start steps, log-normal lifetimes) with 25,000 buffers whose sizes are redrawn uniformly from
64 B to 8 MiB (`--sizes uniform`) or log-uniformly (`--sizes loguniform`), one per seed. Each is
planned `--repeat` times with each time limit; a row gives the median ratio of the arena to the
lower bound, the median wall time, and greedy best fit's ratio (the better of largest-first and
longest-lived-first) for reference. A table, not a test: it asserts nothing.

    python benchmarks/planner_scale.py [--seeds 7,8,9] [--limits 10] [--repeat 3]
                                       [--sizes uniform|loguniform] [--src DIR,DIR...]
                                       [--million]

`--src DIR,DIR` compares source trees (e.g. this one and an export of an older commit:
`git archive COMMIT src | tar -x -C /tmp/old`): every run is a subprocess importing mlxa from
one tree, and the trees take turns run by run, so a change in the machine's load falls on both.
`--million` instead times `mlxa plan` (default options) on a 10^6-row CSV in a subprocess.
Timings depend on the machine's load: say how busy it was when quoting them.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def instance(seed: int, sizes: str, n: int = 25_000) -> list:
    from mlxa.planners.contract import Buffer
    from mlxa.planners.instance import random_instance

    rng = random.Random(seed + 99)

    def size() -> int:
        if sizes == "uniform":
            return rng.randint(64, 8 << 20)
        return int(64 * 2 ** (rng.random() * 17))

    return [Buffer(b.id, b.start, b.end, size()) for b in random_instance(n, seed)]


def greedy_ratio(buffers: list) -> float:
    from mlxa.planners.contract import lower_bound
    from mlxa.planners.iterated import Arrays, greedy_plans

    arr = Arrays.of(buffers, 1)
    plans = greedy_plans(arr)
    best = min(int((plans[k] + arr.size).max()) for k in ("greedy_by_size", "greedy_by_lifetime"))
    return best / lower_bound(buffers)


def one_run(seed: int, sizes: str, limit: float) -> dict[str, float]:
    """Plan one instance once (in this process, with the mlxa on sys.path)."""
    from mlxa.planners.outcome import plan_instance

    buffers = instance(seed, sizes)
    t0 = time.monotonic()
    out = plan_instance(buffers, f"{sizes}_{seed}", "auto", 1, limit)
    return {"ratio": out.ratio, "time_s": time.monotonic() - t0}


def run_in(src: Path, seed: int, sizes: str, limit: float) -> dict[str, float]:
    code = (f"import json, sys; sys.path[:0] = [{str(src)!r}, {str(Path(__file__).parent)!r}]; "
            f"import planner_scale as p; print(json.dumps(p.one_run({seed}, {sizes!r}, {limit})))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    return json.loads(proc.stdout.splitlines()[-1])


def render(src: Path, seed: int, sizes: str, limit: float, runs: list[dict[str, float]],
           greedy: float) -> str:
    ratios = [r["ratio"] for r in runs]
    return (f"{str(src)[-24:]:<25}{sizes}_{seed:<6}{limit:>7g}{greedy:>9.4f}"
            f"{statistics.median(ratios):>9.4f}{min(ratios):>9.4f}{max(ratios):>9.4f}"
            f"{statistics.median(r['time_s'] for r in runs):>9.2f}")


def million(src: Path) -> str:
    """`mlxa plan` with default options on 10^6 rows: wall time of the whole command."""
    from mlxa.planners.instance import random_instance

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "million.csv"
        rows = (f"{b.id},{b.start},{b.end},{b.nbytes}\n" for b in random_instance(10**6, 3))
        path.write_text("id,lower,upper,size\n" + "".join(rows))
        env = dict(os.environ, PYTHONPATH=str(src))
        t0 = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "mlxa", "plan", str(path)], env=env,
                              capture_output=True, text=True, timeout=3600)
        elapsed = time.monotonic() - t0
    lines = (proc.stdout + proc.stderr).splitlines()
    summary = " | ".join(line.strip() for line in lines[:7] if line.strip())
    return f"exit {proc.returncode}, {elapsed:.1f} s wall: {summary}"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", default="7,8,9")
    p.add_argument("--limits", default="10", help="comma-separated time limits (s)")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--sizes", default="uniform", choices=("uniform", "loguniform"))
    p.add_argument("--src", default=str(SRC),
                   help="comma-separated source trees to import mlxa from (default: this one)")
    p.add_argument("--million", action="store_true", help="time the CLI on 10^6 rows")
    args = p.parse_args()
    srcs = [Path(x) for x in args.src.split(",")]
    if args.million:
        for src in srcs:
            print(src, million(src), flush=True)
        return 0
    sys.path.insert(0, str(srcs[0]))
    print(f"{'source':<25}{'instance':<16}{'limit':>5}{'greedy':>9}{'median':>9}{'min':>9}"
          f"{'max':>9}{'time s':>9}   (ratios: arena / lower bound; {args.repeat} runs)")
    for limit in (float(x) for x in args.limits.split(",")):
        for seed in (int(s) for s in args.seeds.split(",")):
            greedy = greedy_ratio(instance(seed, args.sizes))
            runs: dict[Path, list[dict[str, float]]] = {src: [] for src in srcs}
            for _ in range(args.repeat):
                for src in srcs:
                    runs[src].append(run_in(src, seed, args.sizes, limit))
            for src in srcs:
                print(render(src, seed, args.sizes, limit, runs[src], greedy), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
