"""``mmkit.progress.Progress``: the one progress class of compare, replay and sweep."""

import sys
import threading

from mmkit.progress import Progress


def test_a_callable_sees_every_step_in_order_from_many_threads():
    seen = []
    p = Progress(400, lambda d, t: seen.append((d, t)), "x", "tick")

    def work():
        for _ in range(100):
            p.advance()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    p.close()
    assert [d for d, _ in seen] == list(range(1, 401)) and {t for _, t in seen} == {400}


def test_work_done_before_is_shown_and_announced():
    seen = []
    p = Progress(6, lambda d, t: seen.append(d), "sweep", "cell", done=2, announce=True)
    p(3)
    assert seen == [2, 5] and p.done == 5


def test_false_shows_nothing_and_true_without_tqdm_prints_a_line(capsys, monkeypatch):
    p = Progress(3, False, "quiet", "tick")
    p.advance(3)
    p.close()
    assert capsys.readouterr().err == ""
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)  # import fails: the plain line
    p = Progress(4, True, "replay t x 2 variants", "event", done=1)
    p.advance(3)
    p.close()
    err = capsys.readouterr().err
    assert err.startswith("replay t x 2 variants: 1/4 events") and "\r4/4 events" in err and err.endswith(" s)\n")
