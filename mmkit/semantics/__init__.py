"""Kernel versions as data: ``Variant`` and the six named variants (SEMANTICS.md §1)."""

from __future__ import annotations

from typing import Iterable, Union

from mmkit.errors import VariantError
from mmkit.semantics.named import NAMED
from mmkit.semantics.rules import (
    BalloonProtocol,
    CmaCleanRule,
    FailureRoute,
    IsolatedBit,
    IsolatedSetter,
    MovableMarker,
    NewpageRoute,
    PageBalloonTest,
    PageTypes,
    SwapcacheBit,
)
from mmkit.semantics.variant import RULE_FIELDS, Variant

VariantLike = Union[str, Variant]


def variant(v: VariantLike) -> Variant:
    """A Variant from a name (``"v3-04"``) or a Variant (returned as it is)."""
    if isinstance(v, Variant):
        return v
    if isinstance(v, str) and v in NAMED:
        return NAMED[v]
    raise VariantError(f"unknown variant {v!r}; known variants are {', '.join(NAMED)}")


def resolve(vs: Iterable[VariantLike] | VariantLike) -> list[Variant]:
    """A list of Variants from names, Variants, or a comma-separated string."""
    if isinstance(vs, (str, Variant)):
        vs = [s.strip() for s in vs.split(",")] if isinstance(vs, str) else [vs]
    out = [variant(v) for v in vs]
    if not out:
        raise VariantError("variants: give at least one variant")
    names = [v.name for v in out]
    if len(set(names)) != len(names):
        raise VariantError(f"variants: each variant may appear once; got {names}")
    return out


__all__ = [
    "NAMED", "RULE_FIELDS", "BalloonProtocol", "CmaCleanRule", "FailureRoute", "IsolatedBit",
    "IsolatedSetter", "MovableMarker", "NewpageRoute", "PageBalloonTest", "PageTypes",
    "SwapcacheBit", "Variant", "VariantLike", "resolve", "variant",
]
