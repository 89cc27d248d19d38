"""Training-forgery synthesis: real faces in, fakes with pixel-exact masks and semantic labels out.

- `landmarks`: the 468-point face mesh (LiteRT), `mesh`: its region index sets and triangles.
- `masks`: mask shapes, deformations and the SOML regions a mask covers.
- `families`: self-blend, cross-identity face swap (hull, rectangle, ellipse masks), region edits.
- `realism`: stream degradations (H.264, JPEG, scaling, blur, noise, colour, flips) for reals and fakes.
- `split`: the fixed person/source split of the shared real faces.
- `bank`, `dataset`: cached faces and the on-the-fly training dataset.
- `writer`: `run_forge`, the eval-layout folder behind ``streamguard forge``.
"""

from __future__ import annotations

import logging

from streamguard.forge.families import FAMILIES, METHODS, ForgeError, MethodInfo, forge, methods_of
from streamguard.forge.records import REGIONS, ForgedSample, LandmarkedFace

__all__ = [
    "FAMILIES",
    "METHODS",
    "REGIONS",
    "ForgeError",
    "ForgedSample",
    "LandmarkedFace",
    "MethodInfo",
    "forge",
    "methods_of",
]

logging.getLogger(__name__).addHandler(logging.NullHandler())
