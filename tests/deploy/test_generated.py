"""The committed dashboard and rules are what the generators produce now, from the package's metric names."""

from __future__ import annotations

import json
import re

from streamguard.ops import dashboard, rules
from streamguard.sinks.metrics import METRIC_NAMES
from tests.deploy.conftest import DEPLOY

HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def metric_names_in(promql: str) -> set[str]:
    """The ``streamguard_*`` metric names a PromQL text uses, histogram series mapped to their base name."""
    names = set()
    for name in re.findall(r"(?<![:\w])streamguard_[a-z0-9_]+\b(?!:)", promql):
        for suffix in HISTOGRAM_SUFFIXES:
            if name.endswith(suffix) and name.removesuffix(suffix) in METRIC_NAMES:
                name = name.removesuffix(suffix)
        names.add(name)
    return names


def test_committed_dashboard_is_regenerated_identically() -> None:
    committed = (DEPLOY / "grafana" / "streamguard.json").read_text()
    assert committed == dashboard.render(), "run: python -m streamguard.ops.dashboard"


def test_committed_rules_are_regenerated_identically() -> None:
    committed = (DEPLOY / "prometheus" / "rules.yml").read_text()
    assert committed == rules.render(), "run: python -m streamguard.ops.rules"
    manifest = (DEPLOY / "k8s" / "base" / "prometheusrule.yaml").read_text()
    assert manifest == rules.render_prometheus_rule(), "run: python -m streamguard.ops.rules"


def test_dashboard_and_rules_use_only_defined_metrics_and_recorded_series() -> None:
    board = json.loads(dashboard.render())
    queries = dashboard.queries(board)
    every_rule = rules.recording_rules() + rules.alerting_rules()
    text = "\n".join(queries + [str(rule["expr"]) for rule in every_rule])
    unknown = metric_names_in(text) - set(METRIC_NAMES)
    assert not unknown, f"metrics the package does not define: {unknown}"
    recorded_exprs = "\n".join(str(rule["expr"]) for rule in rules.recording_rules())
    unshown = set(METRIC_NAMES) - metric_names_in("\n".join([*queries, recorded_exprs]))
    assert not unshown, f"metrics the dashboard does not show: {unshown}"
    recorded = {rule["record"] for rule in rules.recording_rules()}
    used = set(re.findall(r"\b[a-z_]+:[a-z0-9_]+:[a-z0-9_]+\b", "\n".join(queries)))
    assert used <= recorded, f"dashboard uses unrecorded series {used - recorded}"
    assert used, "the dashboard should use the recording rules"


def test_dashboard_layout() -> None:
    board = json.loads(dashboard.render())
    rows = [p["title"] for p in board["panels"] if p["type"] == "row"]
    assert rows == ["Fleet health", "Per-stream ingest", "Inference", "Sinks"]
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    assert {v["name"] for v in board["templating"]["list"]} == {dashboard.STREAM_VAR, dashboard.DATASOURCE_VAR}
    for panel in board["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}"
            assert panel["targets"], panel["title"]


def test_alerts_cover_the_required_conditions() -> None:
    alerts = {rule["alert"]: rule for rule in rules.alerting_rules()}
    assert alerts["StreamguardStreamDown"]["for"] == "1m"
    assert alerts["StreamguardHighDropRatio"]["for"] == "5m" and "> 0.05" in alerts["StreamguardHighDropRatio"]["expr"]
    assert "2m" in alerts["StreamguardNoInference"]["expr"]
    assert "spool" in alerts["StreamguardSpoolGrowing"]["expr"]
    assert "> 1.0" in alerts["StreamguardHighLatency"]["expr"]
