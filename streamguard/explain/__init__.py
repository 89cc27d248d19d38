"""Explanations of alerts: which attribute a fake changed and which face regions its mask covers.

Runs between scoring and the sinks, for the peak face of alert start and update events only:

- `regions`: face-mesh landmarks on the peak crop, the SOML region polygons, and the share of each region the
  predicted mask covers;
- `explainer`: the `Explainer` the daemon calls (one landmark pass per event, on its own thread), with its
  failure counting;
- `words`: the explanation in an operator's words ("identity swap — whole face").
"""

from streamguard.explain.explainer import Explainer, explain_attribute
from streamguard.explain.regions import NAMED_COVERAGE, REPORTED_COVERAGE, RegionLocator, region_coverage
from streamguard.explain.words import describe

__all__ = [
    "NAMED_COVERAGE",
    "REPORTED_COVERAGE",
    "Explainer",
    "RegionLocator",
    "describe",
    "explain_attribute",
    "region_coverage",
]
