"""Explanation settings: what alerts say was manipulated (`streamguard.explain`)."""

from __future__ import annotations

from pydantic import Field

from streamguard.config.base import StrictModel


class ExplainConfig(StrictModel):
    """Attribute and face regions for the peak face of every alert start and update event."""

    enabled: bool = Field(
        default=True,
        description=(
            "Explain alert start and update events: the attribute head's verdict (models with one) and the face "
            "regions the mask covers (one face-mesh pass per event, on its own thread, about 4 ms on 2 cores: "
            "`streamguard bench`)."
        ),
    )
    min_coverage: float = Field(
        default=0.2,
        ge=0,
        le=1,
        description="Regions whose share covered by the mask is below this are left out of an alert's regions.",
    )
