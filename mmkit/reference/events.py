"""What the twin counts: vmstat items by their kernel names, and the event log of
traffic and faults, each event counted under the page's true kind (the engine's
``EVENT_NAMES`` / ``VMSTAT_NAMES`` are the shared vocabulary of both)."""

from __future__ import annotations

from mmkit.engine.state import EVENT_NAMES, FAULT_EVENTS, VMSTAT_NAMES
from mmkit.semantics.variant import RULE_FIELDS

EV = {name: i for i, name in enumerate(EVENT_NAMES)}
FIRST_FAULT = min(FAULT_EVENTS)
RULE_NONE = -1


def rule(field: str) -> int:
    """The rule column of an event: which Variant field decided the route."""
    return RULE_FIELDS.index(field)


def record(s, page, event: str, rule_: int = RULE_NONE, extra: int = 0) -> None:
    """Count ``event`` under the page's true kind; faults are always logged, ordinary
    traffic only when the simulation logs traffic."""
    code = EV[event]
    kind = page.kind if page is not None else 0
    s.faults[code][kind] += 1
    if code < FIRST_FAULT and not s.log_traffic:
        return
    if len(s.event_log) < s.event_capacity:
        s.event_log.append((0, page.pfn if page is not None else -1, code, kind, rule_, extra))
    else:
        s.events_dropped += 1


def new_vmstat() -> dict[str, int]:
    return dict.fromkeys(VMSTAT_NAMES, 0)
