"""What the engine logs: one row per event, in code order (``S.ev`` holds the code).

Each row is (name, fault, title): a fault is logged always, other events (ordinary
traffic) only when a run asks for them (``log_traffic``); the title is what a chart or a
table says the event is. The engine's ``EV_*`` codes (``mmkit.engine.state``), its
``EVENT_NAMES`` and ``FAULT_EVENTS``, and the charts' titles (``mmkit.viz``) are read from
here. To add an event: a row at the end (codes are stored in results and sweeps), its
``EV_<NAME>`` constant in ``mmkit.engine.state`` (the import fails if it is missing or out
of order), the kernel that records it and the twin's (``mmkit.reference``).
"""

from __future__ import annotations

EVENTS = (
    ("isolated", False, "a page isolated for migration (rule: the branch that took it)"),
    ("migrated", False, "a page migrated"),
    ("migrate_failed", False, "a page that failed every migration pass"),
    ("putback_lru", False, "putback_lru_page of an LRU page (correct)"),
    ("putback_movable", False, "a driver's putback_page (correct)"),
    ("put_page_newpage", False, "newpage released with put_page (correct for non-LRU pages)"),
    ("misrouted_putback", True, "a non-LRU page sent to putback_lru_page"),
    ("lru_corruption", True, "a driver-owned page threaded onto an LRU list"),
    ("objects_lost", True, "reclaim freed a zsmalloc page that still held objects"),
    ("list_corruption", True, "a list_head whose neighbour does not point back"),
    ("oops", True, "a kernel oops (extra 0: isolate_movable_page, 1: page_buffers)"),
    ("cma_skip_false_positive", True, "reclaim_clean_pages_from_list skipped a droppable page"),
    ("kpf_balloon_misreport", True, "KPF_BALLOON misreported in /proc/kpageflags"),
    ("deflate_race", True, "balloon deflate between unlock and the newpage test"),
    ("lost_from_lru", True, "an LRU page's newpage released with put_page: off every LRU"),
    ("isolated_false_positive", True, "a movable page skipped because PageIsolated lied"),
    ("nonlru_to_reclaim", True, "a driver-owned page handed to shrink_page_list"),
    ("bad_page_freed", True, "reclaim freed a balloon page still owned by the balloon"),
    ("released_false_positive", True, "a driver's page taken as released: not moved, now unmovable"),
)

# the engine logs traffic only when asked by testing code < the first fault's: traffic first
_first_fault = [fault for _, fault, _ in EVENTS].index(True)
if not all(fault for _, fault, _ in EVENTS[_first_fault:]):
    raise ImportError("mmkit.model.events: every ordinary event must come before the first fault")

EVENT_NAMES = tuple(name for name, _, _ in EVENTS)
FAULT_NAMES = tuple(name for name, fault, _ in EVENTS if fault)
EVENT_TITLES = {name: title for name, _, title in EVENTS}

# the oops event's extra: where the kernel died
OOPS_ISOLATE_MOVABLE_PAGE = 0  # isolate_movable_page through a NULL ->mapping (v3-02)
OOPS_PAGE_BUFFERS = 1  # page_buffers()'s BUG_ON(!PagePrivate) in try_to_free_buffers
