"""mmkit.warmup: both sides and the whole warm-up run (the cache is warm here, so each
loads in seconds), the mark that makes a second run return at once."""

import pytest

import mmkit.engine
from mmkit import warmup

pytestmark = pytest.mark.slow  # the slow tier: the warm-up's processes


def test_each_side_runs():
    warmup._compaction_side()
    warmup._other_side()


@pytest.mark.parametrize("jobs", [1, 2])
def test_warm_writes_its_mark_and_then_returns_at_once(tmp_path, monkeypatch, capsys, jobs):
    monkeypatch.setattr(mmkit.engine, "CACHE_DIR", str(tmp_path / "cache"))
    assert warmup.warm(jobs=jobs) > 0
    assert (tmp_path / "cache" / warmup._MARK).is_file()
    err = capsys.readouterr().err
    assert "compaction and migration: done" in err and "engine compiled in" in err
    assert warmup.warm(jobs=jobs) == 0.0
    assert capsys.readouterr().err == ""
