"""The "mmkit" altair renderer (mmkit.jupyter): JupyterLab's own Vega-Lite 5 mimetype,
the spec alone, enabled by ``import mmkit`` in a kernel unless the user chose another
renderer. ``test_jupyterlab.py`` checks that JupyterLab draws what it outputs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import altair as alt
import nbformat
import pytest

from mmkit import jupyter

pytestmark = pytest.mark.slow  # the slow tier: Jupyter kernels

ROOT = Path(__file__).resolve().parent.parent


def chart():
    return alt.Chart(alt.Data(values=[{"a": 1, "b": 2}, {"a": 2, "b": 3}])).mark_line().encode(x="a:Q", y="b:Q")


def test_renderer_outputs_the_spec_under_the_v5_mimetype():
    spec = chart().to_dict()
    bundle, metadata = jupyter.renderer(spec)
    assert set(bundle) == {"application/vnd.vegalite.v5+json", "text/plain"}
    out = bundle["application/vnd.vegalite.v5+json"]
    assert out["$schema"] == "https://vega.github.io/schema/vega-lite/v5.json"
    assert {k: v for k, v in out.items() if k != "$schema"} == {k: v for k, v in spec.items() if k != "$schema"}
    assert spec["$schema"] == alt.SCHEMA_URL  # the chart's own dict is left as it was
    assert metadata == {"application/vnd.vegalite.v5+json": {"embed_options": {"renderer": "svg"}}}
    # a user's embed options add to mmkit's and win over them
    _, metadata = jupyter.renderer(spec, embed_options={"renderer": "canvas", "actions": False})
    assert metadata["application/vnd.vegalite.v5+json"]["embed_options"] == {"renderer": "canvas", "actions": False}


def test_enable_leaves_a_renderer_the_user_chose():
    before = alt.renderers.active
    try:
        alt.renderers.enable("html")
        assert not jupyter.enable()
        assert alt.renderers.active == "html"
        assert jupyter.enable(force=True)
        alt.renderers.enable("default")
        assert jupyter.enable()
        bundle = chart()._repr_mimebundle_()
        assert "application/vnd.vegalite.v5+json" in (bundle[0] if isinstance(bundle, tuple) else bundle)
    finally:
        alt.renderers.enable(before)


def test_outside_a_kernel_nothing_changes():
    assert not jupyter.in_kernel()
    code = "import mmkit, altair; print(altair.renderers.active)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}).stdout.split()
    assert out == ["default"]


@pytest.mark.parametrize("order", ["mmkit first", "altair first"])
def test_enabled_when_altair_is_imported_before_or_after(order):
    """``import mmkit`` does not import altair; whichever comes first, the renderer is on
    once both are (the kernel test below is the real thing; this one says which path)."""
    code = "\n".join([
        "import sys, mmkit.jupyter as j",
        "j.in_kernel = lambda: True",
        "import altair" if order == "altair first" else "",
        "j.enable_in_kernel()  # what import mmkit does in a kernel",
        "print('altair' in sys.modules)",
        "import altair; print(altair.renderers.active)",
    ])
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}).stdout.split()
    assert out == [str(order == "altair first"), "mmkit"]


def test_in_a_kernel_import_mmkit_enables_it(monkeypatch):
    """In a real ipykernel: a user's own altair chart comes out as the v5 spec; a chart
    made with another renderer the user enabled stays as that renderer draws it."""
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in (
        "import altair as alt\nimport mmkit\n"
        "c = alt.Chart(alt.Data(values=[{'a': 1}])).mark_point().encode(x='a:Q')\nc",
        "alt.renderers.enable('json')\nc",
    )]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    first, second = (c.outputs[-1] for c in nb.cells)
    assert set(first.data) == {"application/vnd.vegalite.v5+json", "text/plain"}
    assert first.data["application/vnd.vegalite.v5+json"]["mark"] == {"type": "point"}
    assert "application/vnd.vegalite.v5+json" not in second.data and "application/json" in second.data
    nbformat.validate(nb)
