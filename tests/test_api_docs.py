"""The API reference (``docs/api.md``, written by ``docs/gen_api.py``): every public
function in it has a numpydoc docstring with Parameters, Returns and Examples, the page is
current, and every example runs and prints what its docstring says."""

from __future__ import annotations

import doctest
import sys
from pathlib import Path

import pytest

import mmkit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "docs"))
import gen_api

ENTRIES = gen_api.entries()


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.name for e in ENTRIES])
def test_docstring_has_the_numpydoc_sections(entry):
    sections = entry.sections()
    missing = [s for s in gen_api.REQUIRED if not sections.get(s, "").strip()]
    assert not missing, f"{entry.name} ({entry.where}): no {', '.join(missing)} section"
    assert sections[""].strip(), f"{entry.name}: no summary line"


def test_reference_is_current():
    assert gen_api.main(["--check"]) == 0, "run python docs/gen_api.py"


def test_every_public_name_resolves():
    for e in ENTRIES:
        obj = mmkit
        for part in e.name.split(".")[1:]:
            obj = getattr(obj, part)
        assert callable(obj), e.name


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.name for e in ENTRIES])
def test_examples_run(entry, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)  # examples name the bundled data/ by its relative path
    text = entry.sections()["Examples"]
    test = doctest.DocTestParser().get_doctest(text, {"mmkit": mmkit, "tmp": tmp_path}, entry.name, entry.where, 0)
    assert test.examples, f"{entry.name}: the Examples section holds no >>> example"
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    out: list[str] = []
    runner.run(test, out=out.append)
    assert runner.failures == 0, "".join(out)
