"""An explanation in an operator's words: "identity swap — whole face", "mouth and lips re-animated"."""

from __future__ import annotations

from streamguard.explain.regions import named_regions
from streamguard.types import Attribute, Explanation, FaceRegion

REGION_WORDS: dict[FaceRegion, str] = {
    FaceRegion.EYE: "eyes",
    FaceRegion.EYEBROW: "eyebrows",
    FaceRegion.LIP: "lips",
    FaceRegion.MOUTH: "mouth",
    FaceRegion.NOSE: "nose",
    FaceRegion.SKIN: "skin",
}
ATTRIBUTE_WORDS: dict[Attribute, str] = {
    Attribute.IDENTITY: "identity swap",
    Attribute.EXPRESSION: "expression re-animated",
    Attribute.PHYSICAL: "appearance edited",
}
WORD_ORDER: tuple[FaceRegion, ...] = (
    FaceRegion.MOUTH, FaceRegion.LIP, FaceRegion.EYE, FaceRegion.EYEBROW, FaceRegion.NOSE, FaceRegion.SKIN,
)  # fmt: skip
"""The order regions are named in ("mouth and lips", as an operator says it)."""
WHOLE_FACE = 4
"""This many named regions (or the skin with any other) read as the whole face."""
_MOUTH = frozenset({FaceRegion.MOUTH, FaceRegion.LIP})
_EYES = frozenset({FaceRegion.EYE, FaceRegion.EYEBROW})


def describe(explanation: Explanation | None) -> str:
    """One line for the console, ``streamguard alerts`` and ``streamguard scan``; ``""`` for no explanation."""
    if explanation is None:
        return ""
    named = named_regions(explanation.regions)
    where = _where(named)
    attribute = explanation.attribute
    if attribute is Attribute.EXPRESSION and named and (named <= _MOUTH or named <= _EYES):
        return f"{where} re-animated"
    if attribute is None:
        return f"manipulated — {where}" if where else ""
    return f"{ATTRIBUTE_WORDS[attribute]} — {where}" if where else ATTRIBUTE_WORDS[attribute]


def _where(named: frozenset[FaceRegion]) -> str:
    if not named:
        return ""
    if len(named) >= WHOLE_FACE or (FaceRegion.SKIN in named and len(named) >= 2):
        return "whole face"
    words = [REGION_WORDS[region] for region in WORD_ORDER if region in named]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]
