"""mmkit.warmup.prune_caches: after a new engine version compiles, the compiled engines
of older versions beyond the last few used are removed from the cache folder, and
nothing else is."""

import os

from mmkit import warmup


def _version(root, name, used_at=None):
    d = root / name
    (d / "engine").mkdir(parents=True)
    (d / "engine" / "x.nbi").write_bytes(b"0" * 100)
    if used_at is not None:
        (d / warmup._MARK).write_text("1\n")
        os.utime(d / warmup._MARK, (used_at, used_at))
    return d


def test_the_last_used_versions_stay_and_the_rest_go(tmp_path):
    current = _version(tmp_path, "numba-" + "a" * 16, 5000)
    recent = _version(tmp_path, "numba-" + "b" * 16, 4000)
    next_ = _version(tmp_path, "numba-" + "c" * 16, 3000)
    old = _version(tmp_path, "numba-" + "d" * 16, 1000)
    unmarked = _version(tmp_path, "numba-" + "e" * 16)  # never finished compiling: oldest
    other_prefix = _version(tmp_path, "mmkit-" + "f" * 16, 10)  # a NUMBA_CACHE_DIR-style name
    unrelated = _version(tmp_path, "numba-notahash", 10)
    (tmp_path / "mmkit-sources.json").write_text("{}")
    gone = warmup.prune_caches(current, keep=3)
    assert sorted(p.name for p in gone) == sorted([old.name, unmarked.name])
    for p in (current, recent, next_, other_prefix, unrelated):
        assert p.is_dir()
    assert not old.exists() and not unmarked.exists()
    assert (tmp_path / "mmkit-sources.json").is_file()


def test_a_missing_folder_or_keep_one(tmp_path):
    assert warmup.prune_caches(tmp_path / "nowhere" / ("numba-" + "a" * 16)) == []
    current = _version(tmp_path, "numba-" + "a" * 16, 5000)
    other = _version(tmp_path, "numba-" + "b" * 16, 6000)
    assert warmup.prune_caches(current, keep=1) == [other]
