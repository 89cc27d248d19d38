"""The base of every configuration model: unknown keys are errors, models are immutable."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """A pydantic model that rejects unknown fields and cannot be changed after validation.

    Rejecting unknown fields turns a typo (``analysis_fsp``) into an error instead of a silently ignored
    setting. Defaults are validated too, so a bad default fails the test suite rather than a deployment.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)
