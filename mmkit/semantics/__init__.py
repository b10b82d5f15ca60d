"""Kernel versions as data: ``Variant`` and the six named variants (SEMANTICS.md §1)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Union

from mmkit.errors import VariantError
from mmkit.semantics.named import COMPARE_VARIANTS, NAMED, REPLAY_VARIANTS
from mmkit.semantics.rules import (
    BalloonProtocol,
    CmaCleanRule,
    FailureRoute,
    FallbackRule,
    IsolatedBit,
    MovableMarker,
    NewpageRoute,
    PageBalloonTest,
    PageblockMerge,
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
    elif isinstance(vs, (bytes, Mapping)) or not isinstance(vs, Iterable):
        raise VariantError(f"variants: {vs!r} is not a variant or a list of variants; give names such as "
                           f"['v4.5', 'v4.8'] (or 'v4.5,v4.8'), Variants, or a mix; known variants are "
                           f"{', '.join(NAMED)}")
    out = [variant(v) for v in vs]
    if not out:
        raise VariantError("variants: give at least one variant")
    seen: dict[str, Variant] = {}
    for v in out:
        if v.name not in seen:
            seen[v.name] = v
        elif v == seen[v.name]:
            raise VariantError(f"variants: {v.name!r} appears twice; each variant may appear once")
        else:
            raise VariantError(f"variants: two different variants are both named {v.name!r}; give each its own "
                               f"name, e.g. mmkit.variant('v3-04').replace(..., name='mine')")
    return out


__all__ = [
    "COMPARE_VARIANTS", "NAMED", "REPLAY_VARIANTS", "RULE_FIELDS", "BalloonProtocol", "CmaCleanRule", "FailureRoute", "FallbackRule", "IsolatedBit",
    "MovableMarker", "NewpageRoute", "PageBalloonTest", "PageblockMerge", "PageTypes",
    "SwapcacheBit", "Variant", "VariantLike", "resolve", "variant",
]
