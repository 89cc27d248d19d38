"""A real Prometheus scrapes a running daemon with the shipped config and rules: the rules record series and
every PromQL expression of the Grafana dashboard runs without error and returns data."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from typing import Any

import pytest

from streamguard.ops import dashboard, rules
from streamguard.sinks.metrics import STREAM_UP
from tests.deploy.conftest import DEPLOY, MonitoredDaemon
from tests.deploy.prometheus_server import PROMTOOL, PrometheusServer

pytestmark = pytest.mark.slow

DATA_TIMEOUT_S = 45.0
GRAFANA_MACROS = {
    # What Grafana substitutes before a query reaches Prometheus ("All" streams is the variable's allValue).
    f"${dashboard.STREAM_VAR}": ".*",
    "$__rate_interval": "1m",
}


def grafana_to_promql(expr: str) -> str:
    """Replace the dashboard's template variables and macros the way Grafana does."""
    for macro, value in GRAFANA_MACROS.items():
        expr = expr.replace(macro, value)
    assert "$" not in expr, f"unsubstituted variable in {expr!r}"
    return expr


def dashboard_queries() -> list[str]:
    board = json.loads((DEPLOY / "grafana" / "streamguard.json").read_text())
    found = dashboard.queries(board)
    assert len(found) >= 20
    return found


def wait_for_data(prometheus: PrometheusServer, exprs: list[str]) -> dict[str, dict[str, Any]]:
    """Query `exprs` until all return data or the deadline passes; the last answer of each."""
    deadline = time.monotonic() + DATA_TIMEOUT_S
    answers: dict[str, dict[str, Any]] = {}
    pending = list(exprs)
    while pending and time.monotonic() < deadline:
        for expr in list(pending):
            answers[expr] = prometheus.query(expr)
            assert answers[expr]["status"] == "success", (expr, answers[expr])
            if answers[expr]["data"]["result"]:
                pending.remove(expr)
        if pending:
            time.sleep(1.0)
    return answers


def test_promtool_checks_the_shipped_config_and_rules() -> None:
    config = subprocess.run(
        [PROMTOOL, "check", "config", str(DEPLOY / "prometheus" / "prometheus.yml")], capture_output=True, text=True
    )
    assert config.returncode == 0, config.stdout + config.stderr
    checked = subprocess.run(
        [PROMTOOL, "check", "rules", str(DEPLOY / "prometheus" / "rules.yml")], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    n_rules = len(rules.recording_rules()) + len(rules.alerting_rules())
    assert f"SUCCESS: {n_rules} rules found" in checked.stdout


def test_daemon_is_scraped(monitored_daemon: MonitoredDaemon) -> None:
    with urllib.request.urlopen(monitored_daemon.metrics_url, timeout=5) as response:  # noqa: S310 - 127.0.0.1
        assert STREAM_UP in response.read().decode()
    answers = wait_for_data(monitored_daemon.prometheus, [f'up{{job="{rules.JOB}"}} == 1'])
    assert all(a["data"]["result"] for a in answers.values()), "Prometheus never scraped the daemon"


def test_recording_rules_produce_series(monitored_daemon: MonitoredDaemon) -> None:
    names = [rule["record"] for rule in rules.recording_rules()]
    answers = wait_for_data(monitored_daemon.prometheus, names)
    empty = [name for name in names if not answers[name]["data"]["result"]]
    assert not empty, f"recording rules without series: {empty}"


def test_every_dashboard_query_runs_and_returns_data(monitored_daemon: MonitoredDaemon) -> None:
    exprs = [grafana_to_promql(e) for e in dashboard_queries()]
    answers = wait_for_data(monitored_daemon.prometheus, exprs)
    empty = [expr for expr in exprs if not answers[expr]["data"]["result"]]
    assert not empty, f"dashboard queries without data: {empty}"


def test_stream_variable_lists_the_streams(monitored_daemon: MonitoredDaemon) -> None:
    board = json.loads((DEPLOY / "grafana" / "streamguard.json").read_text())
    variable = next(v for v in board["templating"]["list"] if v["name"] == dashboard.STREAM_VAR)
    assert variable["query"] == f"label_values({STREAM_UP}, stream)"
    answer = monitored_daemon.prometheus.api("label/stream/values", **{"match[]": STREAM_UP})
    assert answer["status"] == "success" and "demo" in answer["data"]


def test_alert_expressions_run(monitored_daemon: MonitoredDaemon) -> None:
    for rule in rules.alerting_rules():
        answer = monitored_daemon.prometheus.query(rule["expr"])
        assert answer["status"] == "success", (rule["alert"], answer)
    loaded = monitored_daemon.prometheus.api("rules")
    groups = {g["name"]: g for g in loaded["data"]["groups"]}
    assert set(groups) == {"streamguard.recording", "streamguard.alerts"}
    for group in groups.values():
        assert all(rule["health"] in ("ok", "unknown") for rule in group["rules"]), group
