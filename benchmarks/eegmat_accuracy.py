"""Rest vs mental arithmetic on EEGMAT: runs :mod:`benchmarks.eegmat` (see its docstring).

Kept as a script so that ``python benchmarks/eegmat_accuracy.py --smoke ...`` works from any
folder, with the same flags as ``python -m benchmarks.eegmat``.
"""

import sys
from pathlib import Path

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root
    from benchmarks.eegmat.__main__ import main

    sys.exit(main())
