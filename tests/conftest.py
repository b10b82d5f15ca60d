import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

from hypothesis import settings  # noqa: E402

# the same examples on every run and every machine: a red CI run can be replayed
settings.register_profile("mmkit", derandomize=True, deadline=None)
settings.load_profile("mmkit")
