"""``python -m mmkit ...``: the ``mmkit`` command (:func:`mmkit.cli.main`)."""

import sys

from mmkit.cli import main

if __name__ == "__main__":
    sys.exit(main())
