"""Evaluation: detection and segmentation metrics, and the `streamguard eval` runner."""

from __future__ import annotations
