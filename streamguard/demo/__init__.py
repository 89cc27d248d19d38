"""The live demo: a half-forged clip played as a camera through the real daemon, and its quick model."""
