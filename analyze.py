"""The seed's command line: `python analyze.py --input "0.5, 1.2, -0.3" --batch 32 --mode both`.

The same as `mlxa analyze ...`; works from a checkout without installing the package.
"""

import sys
from pathlib import Path

try:
    import mlxa  # noqa: F401
except ImportError:
    sys.path.insert(0, str(Path(__file__).resolve().parent / "src"))

from mlxa.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["analyze", *sys.argv[1:]]))
