#!/usr/bin/env bash
# mmkit's one entry point on a fresh machine (needs only python3 >= 3.10, pip and gcc).
#   bash run.sh            set up .venv, then the main job: execute the flagship notebook
#                          and write its HTML report on the bundled sample data
#   bash run.sh test       set up .venv, then run the whole test suite (both tiers)
#   bash run.sh coverage   the tests with NUMBA_DISABLE_JIT=1 under coverage (jitted code too)
#   bash run.sh bench      the benchmarks
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
VENV=.venv
EXTRAS="dev,viz,notebook,sweep"

setup() {
    if [ ! -x "$VENV/bin/python" ]; then
        echo "mmkit: creating $VENV" >&2
        "$PY" -m venv "$VENV"
    fi
    local stamp="$VENV/.mmkit-installed"
    if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ "$(cat "$stamp")" != "$EXTRAS" ]; then
        echo "mmkit: installing mmkit[$EXTRAS] into $VENV" >&2
        "$VENV/bin/python" -m pip install -q --upgrade pip
        "$VENV/bin/python" -m pip install -q -e ".[$EXTRAS]"
        echo "$EXTRAS" > "$stamp"
    fi
}

# numba compiles the engine on first use; on a fresh machine do it on every core at once
# (two at most: mmkit/warmup.py). Once compiled, this takes a second.
warmup() {
    "$VENV/bin/python" -m mmkit.warmup
}

cmd=${1:-main}
setup
case "$cmd" in
    main)
        warmup
        exec "$VENV/bin/python" -m mmkit.report "${@:2}"
        ;;
    test)
        shift || true
        warmup
        # both tiers: the fast one on every core (pyproject.toml's addopts), then the slow
        # one in one process (its clean clones, servers and browsers each load the machine)
        status=0
        "$VENV/bin/python" -m pytest -q "$@" || status=$?
        "$VENV/bin/python" -m pytest -q -m slow -n 0 "$@" || status=$?
        exit "$status"
        ;;
    coverage)
        NUMBA_DISABLE_JIT=1 "$VENV/bin/python" -m coverage run -m pytest -q -p no:cacheprovider -n 0
        exec "$VENV/bin/python" -m coverage report --skip-covered
        ;;
    bench)
        warmup
        for b in benchmarks/bench_*.py; do echo "== $b"; "$VENV/bin/python" "$b"; done
        ;;
    *)
        echo "usage: bash run.sh [main|test|coverage|bench]" >&2
        exit 2
        ;;
esac
