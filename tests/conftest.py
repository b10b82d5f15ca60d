import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

from hypothesis import settings  # noqa: E402

# the same examples on every run and every machine: a red CI run can be replayed
settings.register_profile("mmkit", derandomize=True, deadline=None)
settings.load_profile("mmkit")


def _sigterm_as_interrupt(signum, frame):
    raise KeyboardInterrupt("SIGTERM")


def pytest_configure(config):
    """SIGTERM (``kill``, a CI job's timeout) ends the run as Ctrl-C does: pytest then
    tears the fixtures down, so the JupyterLab server, the browser and the kernels they
    started stop with the run instead of outliving it. In pytest's own process only
    (with xdist, the controller: it stops its workers)."""
    import signal
    import threading

    if os.environ.get("PYTEST_XDIST_WORKER") is None and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
