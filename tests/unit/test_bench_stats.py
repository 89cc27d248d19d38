"""Arithmetic of the benchmark: histogram quantiles, RSS slope, medians."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Histogram

from streamguard.bench.scenarios import PipelineRun, Spread, histogram_quantiles, slope_per_hour

BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(min_value=0.0, max_value=9.9, allow_nan=False), min_size=1, max_size=200))
def test_histogram_quantiles_bracket_the_true_quantile(values: list[float]) -> None:
    registry = CollectorRegistry()
    histogram = Histogram("lat_seconds", "latency", buckets=BUCKETS, registry=registry)
    for v in values:
        histogram.observe(v)
    estimates = histogram_quantiles(registry, "lat_seconds")
    for name, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99)):
        estimate = estimates[name]
        assert estimate is not None
        true = float(np.quantile(values, q, method="inverted_cdf"))
        # The estimate lies in the bucket (lower, upper] that holds the true quantile (interpolated within it).
        upper = next(b for b in BUCKETS if b >= true)
        lower = max((b for b in BUCKETS if b < upper), default=0.0)
        assert lower - 1e-9 <= estimate <= upper + 1e-9, (name, true, estimate)


def test_histogram_quantiles_of_an_empty_histogram_are_none() -> None:
    registry = CollectorRegistry()
    Histogram("lat_seconds", "latency", buckets=BUCKETS, registry=registry)
    assert histogram_quantiles(registry, "lat_seconds") == {"p50": None, "p95": None, "p99": None}


@pytest.mark.parametrize("slope_per_h", [0.0, 12.0, -5.0, 300.0])
def test_rss_slope_recovers_a_linear_trend_after_warm_up(slope_per_h: float) -> None:
    times = np.arange(0, 3600, 60.0)
    warm_up = np.where(times < 600, 200.0, 0.0)  # start-up growth in the first fifth is ignored
    samples = [(float(t), 500.0 + warm_up[i] + slope_per_h * t / 3600) for i, t in enumerate(times)]
    assert slope_per_hour(samples) == pytest.approx(slope_per_h, abs=1e-6)


def test_rss_slope_can_skip_a_fixed_warm_up() -> None:
    times = np.arange(0, 3600, 60.0)
    # Growth until minute 15: skipping 10 minutes still sees part of it, skipping 15 does not.
    samples = [(float(t), 500.0 + min(t, 900.0) / 60) for t in times]
    assert slope_per_hour(samples, skip_s=900.0) == pytest.approx(0.0, abs=1e-9)
    assert slope_per_hour(samples, skip_s=600.0) > 1.0


def test_spread_reports_median_min_max() -> None:
    spread = Spread.of([3.0, 1.0, 2.0, 10.0])
    assert (spread.median, spread.min, spread.max, spread.runs) == (2.5, 1.0, 10.0, 4)


def test_cpu_per_stream_second_divides_by_streams_and_window() -> None:
    run = PipelineRun(4, 400, 0, 400, {"p95": 0.1}, None, 500.0, cpu_s=10.0, seconds=20.0)
    assert run.core_ms_per_stream_s == pytest.approx(125.0)
    assert math.isnan(PipelineRun(0, 0, 0, 0, {}, None, 500.0).core_ms_per_stream_s)
