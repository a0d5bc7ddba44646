"""``python -m eegm2_sklearn.cli`` (also under ``torchrun``): the ``eegm2`` command."""

import sys

from . import main

if __name__ == "__main__":
    sys.exit(main())
