"""``python -m cxr_desktop`` and the ``cxr-desktop`` console script."""

import sys

from cxr_desktop.cli import main

if __name__ == "__main__":
    sys.exit(main())
