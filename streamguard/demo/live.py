"""`streamguard demo`: a forged clip played as a live stream through the real daemon, alerts shown live.

Steps: pick a model (the shipped one, else a quick demo model trained in 1-2 minutes), write a clip whose
middle part is forged, run the daemon on it with the embedded Redis, print every alert event as it is
published, and end with a verdict: did the forged part raise an alert, and did the real parts stay quiet?
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import SecretStr
from rich.console import Console
from rich.table import Table

from streamguard.config import DaemonConfig, config_from_overrides, load_config
from streamguard.daemon import Daemon
from streamguard.demo.clip import ClipTruth, DemoForgery, write_demo_clip
from streamguard.model.detector import Detector
from streamguard.types import AlertEvent, AlertPhase

REPO = Path(__file__).resolve().parents[2]
SHIPPED_MODEL = REPO / "models" / "streamguard-v2.pt"
V1_MODEL = REPO / "models" / "streamguard-yae-v1.pt"
DEMO_CONFIG = REPO / "config" / "demo.yaml"
STREAM_ID = "demo"


@dataclass(frozen=True, slots=True)
class DemoOptions:
    """What the demo runs.

    Attributes:
        workdir: Where the clip, the quick model and the embedded Redis data go.
        model: Checkpoint to use; default: the shipped model, else a quick model trained here.
        seconds: Length of the clip.
        forged_span: ``(start_s, end_s)`` of its forged part.
        device: Torch device.
        config: Daemon configuration whose ``demo`` stream gets the clip (default: ``config/demo.yaml`` of a
            source checkout, else the built-in defaults).
        listen: HTTP address of the daemon (metrics, health); default: the configuration's.
        linger_s: After the verdict, keep the daemon (and its console) up this long so the alert can be looked
            at in the browser; Ctrl-C ends it early.
        forgery: How the clip's forged part is made; default (``None``): the kind the model was trained on
            (`demo_forgery_for`).
    """

    workdir: Path = Path("runs/demo")
    model: Path | None = None
    seconds: float = 15.0
    forged_span: tuple[float, float] = (5.0, 10.0)
    device: str = "cpu"
    config: Path | None = DEMO_CONFIG if DEMO_CONFIG.exists() else None
    listen: str | None = None
    linger_s: float = 0.0
    forgery: DemoForgery | None = None


@dataclass(slots=True)
class DemoResult:
    """The alerts the demo saw, with their start and end in clip time (seconds)."""

    clip: ClipTruth
    window_s: float
    alerts: dict[str, tuple[float, float | None, float]] = field(default_factory=dict)  # id -> (start, end, peak)
    latency: dict[str, float] = field(default_factory=dict)  # metric name -> mean seconds, and sample counts

    def forged_alerts(self) -> list[str]:
        """Alerts that started while (or shortly after) the forged part was on screen."""
        start, end = self.clip.forged_span or (0.0, 0.0)
        return [a for a, (t0, _, _) in self.alerts.items() if start <= t0 <= end + self.window_s]

    def false_alerts(self) -> list[str]:
        """Alerts that started on the real parts of the clip."""
        forged = set(self.forged_alerts())
        return [a for a in self.alerts if a not in forged]

    @property
    def passed(self) -> bool:
        """The forged part raised an alert and the real parts raised none."""
        return bool(self.forged_alerts()) and not self.false_alerts()


def resolve_model(options: DemoOptions, console: Console) -> Path:
    """The checkpoint the demo uses, training the quick demo model when nothing else is there."""
    if options.model is not None:
        return options.model
    if SHIPPED_MODEL.exists():
        console.print(f"model: shipped [bold]{SHIPPED_MODEL}[/]")
        return SHIPPED_MODEL
    quick = options.workdir / "demo-model.pt"
    if not quick.exists():
        from streamguard.demo.model import train_demo_model

        console.print("model: no shipped model found; training the quick demo model (1-2 minutes on 2 cores)")
        started = time.monotonic()
        result = train_demo_model(quick, device=options.device)
        auc = result.best_metrics.get("val_auc", 0.0)
        console.print(f"  trained in {time.monotonic() - started:.0f} s, validation AUC {auc:.3f}")
    console.print(f"model: quick demo model [bold]{quick}[/]")
    return quick


def demo_forgery_for(detector: Detector) -> DemoForgery:
    """``self_blend`` for a model trained on synthesised forgeries that include it, else the quick model's ``edit``.

    A detector is only expected to flag the kinds of forgery it was trained on (the unseen-family rows of the
    model card show why), so the demo shows each model one of its own.
    """
    forge = detector.meta.training.get("forge")
    methods = forge.get("methods", []) if isinstance(forge, dict) else []
    return "self_blend" if "self_blend" in methods else "edit"


def demo_config(options: DemoOptions, clip: Path) -> DaemonConfig:
    """The demo configuration with the clip as its realtime ``demo`` stream and Redis data in the work dir."""
    base = load_config(options.config) if options.config is not None else None
    config = config_from_overrides(base, [f"{STREAM_ID}={clip}?realtime=1"], None, options.listen)
    api = config.api
    if api.resolved_token() is None:  # the console needs a login token: a fresh one for this run
        api = api.model_copy(update={"token": SecretStr(secrets.token_urlsafe(12))})
    return config.model_copy(update={"data_dir": (options.workdir / "data").resolve(), "api": api})


async def run_demo(options: DemoOptions, console: Console) -> DemoResult:
    """Run the whole demo and return what it saw."""
    options.workdir.mkdir(parents=True, exist_ok=True)
    model_path = resolve_model(options, console)
    detector = Detector.load(model_path, device=options.device)
    forgery = options.forgery or demo_forgery_for(detector)
    clip = write_demo_clip(
        options.workdir / "demo.mp4", seconds=options.seconds, forged_span=options.forged_span, forgery=forgery
    )
    start, end = options.forged_span
    console.print(
        f"clip: {clip.path} ({options.seconds:.0f} s; forged ({forgery.replace('_', '-')}) from {start:.0f} s "
        f"to {end:.0f} s)"
    )
    config = demo_config(options, clip.path)
    daemon = Daemon(config, detector=detector)
    events: asyncio.Queue[AlertEvent] = asyncio.Queue()
    daemon.alert_listeners.append(events)
    result = DemoResult(clip, config.scoring.window_s)
    await daemon.start()
    t0 = time.time()
    assert daemon.server is not None  # noqa: S101 - start() created it
    console.print(f"daemon: metrics at {daemon.server.url}/metrics; alerts in Redis ({daemon.redis_url})")
    token = config.api.resolved_token()
    console.print(f"console: [bold]{daemon.server.url}/[/] (log in with any name and the token [bold]{token}[/])")
    console.rule("[bold]live alerts")
    try:
        await _follow(daemon, events, result, t0, console)
        if daemon.sink is not None:
            await daemon.sink.flush(timeout_s=5.0)
        result.latency = _mean_latencies(daemon)
        print_summary(result, console)
        await _linger(options.linger_s, daemon.server.url, console)
    finally:
        await daemon.stop()
    return result


async def _linger(seconds: float, url: str, console: Console) -> None:
    if seconds <= 0:
        return
    console.print(f"the console stays up at {url}/ for {seconds:.0f} s to look at the alert (Ctrl-C ends it)")
    with contextlib.suppress(asyncio.CancelledError):  # Ctrl-C while lingering ends the demo, not an error
        await asyncio.sleep(seconds)


def _mean_latencies(daemon: Daemon) -> dict[str, float]:
    """Mean frame-arrival -> score and frame-arrival -> alert-in-Redis latencies from the daemon's histograms."""
    registry = daemon.metrics.registry
    out = {}
    for name in ("streamguard_e2e_latency_seconds", "streamguard_alert_latency_seconds"):
        total = registry.get_sample_value(f"{name}_sum") or 0.0
        count = registry.get_sample_value(f"{name}_count") or 0.0
        if count:
            out[name] = total / count
            out[f"{name}_count"] = count
    return out


async def _follow(
    daemon: Daemon, events: asyncio.Queue[AlertEvent], result: DemoResult, t0: float, console: Console
) -> None:
    worker = daemon.streams[STREAM_ID].worker
    while not (worker.status.ended and events.empty()):
        try:
            event = await asyncio.wait_for(events.get(), timeout=0.5)
        except TimeoutError:
            continue
        t = event.ts - t0
        _record(result, event, t)
        colour = {AlertPhase.START: "bold red", AlertPhase.UPDATE: "yellow", AlertPhase.END: "green"}[event.phase]
        reason = f" ({event.reason})" if event.reason else ""
        console.print(
            f"t={t:5.1f}s [{colour}]{event.phase.value:6}[/] alert {event.alert_id} track {event.track_id} "
            f"score {event.score:.2f} peak {event.peak_score:.2f}{reason}"
        )


def _record(result: DemoResult, event: AlertEvent, t: float) -> None:
    if event.phase is AlertPhase.START:
        result.alerts[event.alert_id] = (t, None, event.peak_score)
    elif event.alert_id in result.alerts:
        t_start, _, _ = result.alerts[event.alert_id]
        result.alerts[event.alert_id] = (t_start, t if event.phase is AlertPhase.END else None, event.peak_score)


def print_summary(result: DemoResult, console: Console) -> None:
    """A table of the alerts and the verdict."""
    console.rule("[bold]summary")
    table = Table("alert", "started (clip s)", "ended (clip s)", "peak P(fake)", "on forged part")
    forged = set(result.forged_alerts())
    for alert_id, (t_start, t_end, peak) in result.alerts.items():
        ended = "-" if t_end is None else f"{t_end:.1f}"
        table.add_row(alert_id, f"{t_start:.1f}", ended, f"{peak:.2f}", "yes" if alert_id in forged else "NO")
    console.print(table)
    score_ms = result.latency.get("streamguard_e2e_latency_seconds")
    alert_ms = result.latency.get("streamguard_alert_latency_seconds")
    if score_ms is not None:
        console.print(f"latency, frame arrival -> score: {1000 * score_ms:.0f} ms (mean)")
    if alert_ms is not None:
        console.print(f"latency, frame arrival -> alert written to Redis: {1000 * alert_ms:.0f} ms (mean)")
    start, end = result.clip.forged_span or (0.0, 0.0)
    if result.passed:
        console.print(
            f"[bold green]PASS[/]: the forged part ({start:.0f}-{end:.0f} s) raised an alert; the real parts none."
        )
    else:
        console.print(
            f"[bold red]FAIL[/]: {len(result.forged_alerts())} alert(s) on the forged part, "
            f"{len(result.false_alerts())} on the real parts."
        )
