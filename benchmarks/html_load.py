"""Open HTML reports in headless Chromium as a user would and print, per file: its size, the time
from navigation to the load event (median of --repeat loads, each in a fresh page load), console
errors and network requests seen, and the figures found in the DOM. Optionally saves a
full-page screenshot. Uses the tests' DevTools-over-pipe driver (tests/chromium.py).

    python benchmarks/html_load.py reports/resnet50.html [--repeat 5] [--screenshot out.png]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from chromium import browser, find_chromium

FIGURES = {"graph nodes": "#graph svg g.node", "timeline buffers": "#timeline svg rect",
           "roofline points": "#roofline svg circle.pt",
           "per-op rows": "#per-op table.sortable tbody tr", "machine facts": "#machine dt"}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("pages", nargs="+", type=Path)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--screenshot", type=Path, help="full-page PNG of the first page")
    p.add_argument("--width", type=int, default=1300)
    args = p.parse_args()
    binary = find_chromium()
    if binary is None:
        print("no chromium found (set MLXA_CHROMIUM)", file=sys.stderr)
        return 2
    with browser(binary, args.width, 900) as b:
        for i, page in enumerate(args.pages):
            loads = [b.load(page) for _ in range(args.repeat)]
            counts = {k: b.evaluate(f"document.querySelectorAll({q!r}).length")
                      for k, q in FIGURES.items()}
            errors = sorted({e for load in loads for e in load.errors})
            requests = sorted({r for load in loads for r in load.requests})
            print(f"{page}: {page.stat().st_size / 1e6:.3f} MB; load event after "
                  f"{statistics.median(x.load_s for x in loads) * 1e3:.0f} ms median "
                  f"(max {max(x.load_s for x in loads) * 1e3:.0f} ms) over {args.repeat} loads; "
                  f"{len(errors)} console errors, {len(requests)} network requests; "
                  + ", ".join(f"{k} {v}" for k, v in counts.items()))
            for line in errors + requests:
                print("  " + line)
            if i == 0 and args.screenshot:
                args.screenshot.write_bytes(b.screenshot(full_page=True))
                print(f"screenshot: {args.screenshot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
