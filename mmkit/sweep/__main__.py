"""``python -m mmkit.sweep --grid grid.yaml --out DIR [--scheduler tcp://HOST:PORT]``."""

import sys

from mmkit.sweep.cli import main

if __name__ == "__main__":
    sys.exit(main())
