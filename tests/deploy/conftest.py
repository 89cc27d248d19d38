"""Fixtures of the deployment tests: a running daemon (real redis-server, looping demo clip) and a real
Prometheus scraping it with the shipped scrape config and rules (intervals shortened to 1 s)."""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from streamguard.config import config_from_overrides
from streamguard.daemon import Daemon
from streamguard.demo.clip import write_demo_clip
from streamguard.model.detector import Detector
from tests.deploy.prometheus_server import PrometheusServer
from tests.support.redis_server import running_redis_server

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
VENV_BIN = Path(sys.executable).parent
"""Where the dev tools installed with the project (hadolint, check-jsonschema) live."""
DAEMON_START_TIMEOUT_S = 60.0


@dataclass(frozen=True, slots=True)
class MonitoredDaemon:
    """A daemon serving /metrics and the Prometheus that scrapes it."""

    metrics_url: str
    prometheus: PrometheusServer


class DaemonThread:
    """A `Daemon` running its own event loop in a background thread (the tests talk to it over HTTP)."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self.loop = asyncio.new_event_loop()
        self.started = threading.Event()
        self.error: BaseException | None = None
        self.stop_requested: asyncio.Event | None = None
        self.thread = threading.Thread(target=self._run, name="daemon", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._main())
        except BaseException as exc:  # reported to the test thread
            self.error = exc
            self.started.set()
        finally:
            self.loop.close()

    async def _main(self) -> None:
        self.stop_requested = asyncio.Event()
        try:
            await self.daemon.start()
            self.started.set()
            await self.stop_requested.wait()
        finally:
            await self.daemon.stop()

    def start(self) -> None:
        self.thread.start()
        if not self.started.wait(DAEMON_START_TIMEOUT_S) or self.error is not None:
            raise RuntimeError(f"daemon did not start: {self.error!r}")

    def stop(self) -> None:
        if self.stop_requested is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.stop_requested.set)
        self.thread.join(timeout=30)


def prometheus_config_for_test(shipped: Path, target: str, rules: Path) -> dict[str, object]:
    """The shipped prometheus.yml, pointed at `target`, with 1 s intervals and `rules` as its rule file."""
    config = yaml.safe_load(shipped.read_text())
    config["global"]["scrape_interval"] = "1s"
    config["global"]["evaluation_interval"] = "1s"
    config["rule_files"] = [str(rules)]
    jobs = [job for job in config["scrape_configs"] if job["job_name"] == "streamguard"]
    assert len(jobs) == 1, "prometheus.yml must have one scrape job named streamguard"
    jobs[0]["static_configs"] = [{"targets": [target]}]
    config["scrape_configs"] = jobs
    return dict(config)


@pytest.fixture(scope="module")
def monitored_daemon(tmp_path_factory: pytest.TempPathFactory, demo_model_path: Path) -> Iterator[MonitoredDaemon]:
    """A daemon playing a looping, partly forged demo clip live, scraped every second by a real Prometheus."""
    tmp = tmp_path_factory.mktemp("monitored")
    clip = write_demo_clip(tmp / "demo.mp4", seconds=6, forged_span=(1.0, 5.0), seed=3)
    with running_redis_server(workdir=tmp / "redis") as redis_server:
        config = config_from_overrides(None, [f"demo={clip.path}?loop=1&realtime=1"], redis_server.url, "127.0.0.1:0")
        config = config.model_copy(update={"data_dir": tmp / "data"})
        runner = DaemonThread(Daemon(config, detector=Detector.load(demo_model_path, device="cpu")))
        runner.start()
        try:
            server = runner.daemon.server
            assert server is not None
            target = server.url.removeprefix("http://")
            prom_config = prometheus_config_for_test(
                DEPLOY / "prometheus" / "prometheus.yml", target, DEPLOY / "prometheus" / "rules.yml"
            )
            config_path = tmp / "prometheus.yml"
            config_path.write_text(yaml.safe_dump(prom_config))
            prometheus = PrometheusServer(config_path, tmp / "prometheus").start()
            try:
                yield MonitoredDaemon(metrics_url=f"{server.url}/metrics", prometheus=prometheus)
            finally:
                prometheus.stop()
        finally:
            runner.stop()
