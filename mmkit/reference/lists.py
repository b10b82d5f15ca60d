"""``struct list_head`` for the twin's LRU lists, the balloon's page list and the private
lists of compaction and migration (``include/linux/list.h``).

The representation is the kernel's own: every node has ``lru_next`` and ``lru_prev``.
A node is a :class:`~mmkit.reference.buddy.Page` (its ``page->lru``) or a :class:`ListHead`.
A list is circular through its head. ``list_del`` needs no list: it unlinks the node from
whatever its neighbours are and poisons the node's links (``None`` stands for
LIST_POISON1/2). So a page threaded onto a second list without leaving the first leaves
the first list's neighbours pointing at a node that no longer points back: exactly the
corruption the kernel suffers when ``page->lru`` is reused while still in use.

Every add and delete is checked as ``CONFIG_DEBUG_LIST`` checks it
(``__list_add_valid``, ``__list_del_entry_valid`` in ``lib/list_debug.c``, v4.10 and
later): an operation whose neighbours do not point back, or a delete through
LIST_POISON, is not done, and the operation returns False (``list_del`` poisons the
entry either way). The engine's ``mmkit.engine.lists`` does the same.

Buddy free lists are kept as Python lists by :class:`~mmkit.reference.buddy.RefMemory`;
a page on one has ``on_list`` set and its links poisoned, so no check through it passes.
Linking such a page itself into one of these lists raises :class:`ListError`: the engine
never does that, and the twin does not go on.
"""

from __future__ import annotations


class ListError(RuntimeError):
    """A page on a buddy free list linked into another list (an engine bug)."""


class ListHead:
    """A list head: ``LIST_HEAD(name)``, empty when it points at itself."""

    __slots__ = ("lru_next", "lru_prev", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self.lru_next = self
        self.lru_prev = self

    def __repr__(self) -> str:
        return f"ListHead({self.name})"


def _not_free(node) -> None:
    if getattr(node, "on_list", None) is not None:
        raise ListError(f"page {node.pfn:#x} is on a buddy free list")


def _add_valid(node, prv, nxt) -> bool:
    """``__list_add_valid``."""
    return (getattr(nxt, "lru_prev", None) is prv and getattr(prv, "lru_next", None) is nxt
            and node is not prv and node is not nxt)


def INIT_LIST_HEAD(head: ListHead) -> None:
    head.lru_next = head
    head.lru_prev = head


def list_add(node, head) -> bool:
    """Insert ``node`` right after ``head``, unless ``__list_add_valid`` refuses."""
    _not_free(node)
    nxt = head.lru_next
    if not _add_valid(node, head, nxt):
        return False
    node.lru_next = nxt
    node.lru_prev = head
    nxt.lru_prev = node
    head.lru_next = node
    return True


def list_add_tail(node, head) -> bool:
    """Insert ``node`` right before ``head``, unless ``__list_add_valid`` refuses."""
    _not_free(node)
    prv = head.lru_prev
    if not _add_valid(node, prv, head):
        return False
    node.lru_next = head
    node.lru_prev = prv
    prv.lru_next = node
    head.lru_prev = node
    return True


def list_del(node) -> bool:
    """Unlink ``node`` from whatever list its neighbours are on, unless
    ``__list_del_entry_valid`` refuses; its links are poisoned either way."""
    nxt, prv = node.lru_next, node.lru_prev
    ok = getattr(prv, "lru_next", None) is node and getattr(nxt, "lru_prev", None) is node
    if ok:
        nxt.lru_prev = prv
        prv.lru_next = nxt
    node.lru_next = None
    node.lru_prev = None
    return ok


def list_empty(head) -> bool:
    return head.lru_next is head


def list_first(head):
    """The first node after ``head``, or None when the list is empty."""
    return None if head.lru_next is head else head.lru_next
