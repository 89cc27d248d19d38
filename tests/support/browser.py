"""Headless Chromium as an independent WebRTC publisher: a clip as its fake camera, our WHIP page."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import av

PAGE = Path(__file__).parent / "web" / "whip_publish.html"


def find_chromium() -> str | None:
    """The Chromium binary (Debian `chromium`), or ``None``."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def write_y4m(clip: Path, out: Path) -> Path:
    """Re-encode a clip as raw YUV4MPEG2 (what Chromium's fake capture device plays, looped)."""
    with av.open(str(clip)) as source, av.open(str(out), "w", format="yuv4mpegpipe") as sink:
        video = source.streams.video[0]
        stream = sink.add_stream("rawvideo", rate=video.average_rate or 25)
        stream.width, stream.height, stream.pix_fmt = video.width, video.height, "yuv420p"
        for frame in source.decode(video):
            for packet in stream.encode(frame.reformat(format="yuv420p")):
                sink.mux(packet)
        for packet in stream.encode(None):
            sink.mux(packet)
    return out


QUIET_FLAGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
)
"""Headless Chromium in a container, making no request of its own (updates, sync, default apps)."""


def start_chromium(binary: str, url: str, y4m: Path, profile: Path, log: Path) -> subprocess.Popen[bytes]:
    """Open `url` in headless Chromium with `y4m` as the camera; WebRTC may use loopback; no background traffic."""
    args = [
        binary,
        "--headless=new",
        *QUIET_FLAGS,
        "--disable-features=WebRtcHideLocalIpsWithMdns,MediaRouter,OptimizationHints",
        "--allow-loopback-in-peer-connection",
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={y4m}",
        f"--user-data-dir={profile}",
        "--remote-debugging-port=0",
        url,
    ]
    with log.open("wb") as sink:
        return subprocess.Popen(args, stdout=sink, stderr=subprocess.STDOUT)
