"""``struct list_head`` for the twin's LRU lists, the balloon's page list and the private
lists of compaction and migration (``include/linux/list.h``).

The representation is the kernel's own: every node has ``lru_next`` and ``lru_prev``.
A node is a :class:`~mmkit.reference.buddy.Page` (its ``page->lru``) or a :class:`ListHead`.
A list is circular through its head. ``list_del`` needs no list: it unlinks the node from
whatever its neighbours are and poisons the node's links (``None`` stands for
LIST_POISON1/2). So a page threaded onto a second list without leaving the first leaves
the first list's neighbours pointing at a node that no longer points back: exactly the
corruption the kernel suffers when ``page->lru`` is reused while still in use.

Buddy free lists are kept as Python lists by :class:`~mmkit.reference.buddy.RefMemory`;
a page on one has ``on_list`` set. Linking such a page into one of these lists, or
following a poisoned link, raises :class:`ListError`: the kernel would crash there
(``list_del`` on LIST_POISON) or corrupt its free lists, and the twin does not go on.
"""

from __future__ import annotations


class ListError(RuntimeError):
    """A list operation the kernel could not survive (poisoned link, a free-list page)."""


class ListHead:
    """A list head: ``LIST_HEAD(name)``, empty when it points at itself."""

    __slots__ = ("lru_next", "lru_prev", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self.lru_next = self
        self.lru_prev = self

    def __repr__(self) -> str:
        return f"ListHead({self.name})"


def _linkable(node) -> None:
    if node is None:
        raise ListError("a link is LIST_POISON")
    if getattr(node, "on_list", None) is not None:
        raise ListError(f"page {node.pfn:#x} is on a buddy free list")


def INIT_LIST_HEAD(head: ListHead) -> None:
    head.lru_next = head
    head.lru_prev = head


def list_add(node, head) -> None:
    """Insert ``node`` right after ``head``."""
    nxt = head.lru_next
    _linkable(node)
    _linkable(nxt)
    node.lru_next = nxt
    node.lru_prev = head
    nxt.lru_prev = node
    head.lru_next = node


def list_add_tail(node, head) -> None:
    """Insert ``node`` right before ``head``."""
    prv = head.lru_prev
    _linkable(node)
    _linkable(prv)
    node.lru_next = head
    node.lru_prev = prv
    prv.lru_next = node
    head.lru_prev = node


def list_del(node) -> None:
    """Unlink ``node`` from whatever list its neighbours are on; poison its links."""
    nxt, prv = node.lru_next, node.lru_prev
    _linkable(nxt)
    _linkable(prv)
    nxt.lru_prev = prv
    prv.lru_next = nxt
    node.lru_next = None
    node.lru_prev = None


def list_empty(head) -> bool:
    return head.lru_next is head


def list_first(head):
    """The first node after ``head``, or None when the list is empty."""
    return None if head.lru_next is head else head.lru_next
