"""A real Triton Inference Server on 127.0.0.1, serving an exported streamguard repository, stopped by its PID.

The server is the ``tritonserver`` (2.51) that the ``nvidia-pytriton`` wheel bundles, installed by ``make venv``
into ``.venv/triton`` (``pip --target``, no dependencies: the wheel pins numpy<2, which the daemon's stack
cannot use). That build has only Triton's Python backend, so the served repository is the exported one with
its ``onnxruntime_onnx`` platform swapped for a small Python model (`tests/support/triton_model.py`) that runs
the same ``model.onnx`` with ONNX Runtime, batching every request Triton hands it into one call. Inputs,
outputs, dims, dynamic batching and the version parameter are the export's, so the daemon talks to it exactly
as to a production Triton with the ONNX Runtime backend.

Two traps, handled here: the Python backend's stub embeds ``libpython3.11.so.1.0`` and would load the system's
(a different patch release than this interpreter's standard library), so the interpreter's own ``LIBDIR`` goes
first on ``LD_LIBRARY_PATH``; and the stub's Python needs numpy<2 (its C++ tensor bridge), so the backend's
utility module puts ``.venv/triton`` (numpy<2, ONNX Runtime) first on ``sys.path``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2 as mc

from streamguard.export.triton import read_model_config
from tests.support.processes import signal_and_reap
from tests.support.redis_process import free_port

TRITON_HOME = Path(os.environ.get("STREAMGUARD_TRITON_HOME") or Path(sys.prefix) / "triton")
"""Where ``make venv`` put the server (``pytriton/tritonserver``) and the stub's packages."""
SERVER_DIR = TRITON_HOME / "pytriton" / "tritonserver"
MODEL_SOURCE = Path(__file__).with_name("triton_model.py")
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0


def served_repository(exported: Path, out: Path) -> Path:
    """A copy of the exported repository `exported` that the bundled server's Python backend can load."""
    for model_dir in sorted(p for p in exported.iterdir() if (p / "config.pbtxt").exists()):
        config = read_model_config(model_dir / "config.pbtxt")
        config.platform = ""
        config.backend = "python"
        config.ClearField("optimization")  # GPU accelerators: not on this CPU server
        for group in config.instance_group:
            group.kind = mc.ModelInstanceGroup.KIND_CPU
        config.parameters["site_packages"].string_value = str(TRITON_HOME)
        target = out / model_dir.name
        shutil.copytree(model_dir, target, dirs_exist_ok=True)
        for version_dir in (p for p in target.iterdir() if p.is_dir()):
            shutil.copy(MODEL_SOURCE, version_dir / "model.py")
        (target / "config.pbtxt").write_text(text_format.MessageToString(config))
    return out


class TritonServer:
    """One ``tritonserver`` process on 127.0.0.1 (gRPC, HTTP and metrics on free ports) serving `repository`.

    Args:
        repository: A repository written by `served_repository`.
        workdir: Where its backend folder and log go.
    """

    def __init__(self, repository: Path, workdir: Path) -> None:
        self.repository = repository
        self.workdir = workdir
        self.grpc_port = free_port()
        self.http_port = free_port()
        self.metrics_port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / "tritonserver.log"

    @property
    def grpc_url(self) -> str:
        """``127.0.0.1:PORT`` of the gRPC endpoint (what ``inference.triton.url`` takes)."""
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def pid(self) -> int | None:
        """PID of the running server, ``None`` when stopped."""
        return self.process.pid if self.process is not None and self.process.poll() is None else None

    def metrics(self) -> str:
        """Triton's own Prometheus exposition (``nv_inference_*``)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as response:
            return str(response.read().decode())

    def start(self) -> TritonServer:
        """Start the server and wait until ``/v2/health/ready``.

        Raises:
            RuntimeError: It exited or was not ready within `START_TIMEOUT_S` (its log is quoted).
        """
        if self.pid is not None:
            return self
        self.workdir.mkdir(parents=True, exist_ok=True)
        backends = self._backend_dir()
        environment = dict(os.environ)
        environment["LD_LIBRARY_PATH"] = os.pathsep.join(
            filter(None, [str(sysconfig.get_config_var("LIBDIR")), environment.get("LD_LIBRARY_PATH")])
        )
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    str(SERVER_DIR / "bin" / "tritonserver"),
                    f"--model-repository={self.repository}",
                    f"--backend-directory={backends}",
                    "--grpc-address=127.0.0.1",
                    f"--grpc-port={self.grpc_port}",
                    "--http-address=127.0.0.1",
                    f"--http-port={self.http_port}",
                    "--metrics-address=127.0.0.1",
                    f"--metrics-port={self.metrics_port}",
                    "--exit-on-error=true",
                    "--exit-timeout-secs=5",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=environment,
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"tritonserver exited:\n{self._log_tail()}")
            if self._ready():
                return self
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"tritonserver not ready within {START_TIMEOUT_S:g} s:\n{self._log_tail()}")

    def kill(self) -> None:
        """SIGKILL the server (a crashed inference node) and reap it."""
        self._signal_and_wait(signal.SIGKILL)

    def stop(self) -> None:
        """SIGTERM the server and wait; SIGKILL if it does not exit in time. Idempotent."""
        self._signal_and_wait(signal.SIGTERM)

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/v2/health/ready", timeout=1) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def _backend_dir(self) -> Path:
        """Triton's Python backend with this interpreter's stub, its utilities first importing our numpy<2."""
        python = self.workdir / "backends" / "python"
        python.mkdir(parents=True, exist_ok=True)
        bundled = SERVER_DIR / "backends" / "python"
        stub = SERVER_DIR / "python_backend_stubs" / f"{sys.version_info.major}.{sys.version_info.minor}"
        for source in (bundled / "libtriton_python.so", stub / "triton_python_backend_stub"):
            link = python / source.name
            if not link.exists():
                link.symlink_to(source)
        utilities = bundled / "triton_python_backend_utils.py"
        (python / utilities.name).write_text(
            "import sys\n"
            f"sys.path.insert(0, {str(TRITON_HOME)!r})\n"
            f"exec(compile(open({str(utilities)!r}).read(), {str(utilities)!r}, 'exec'))\n"
        )
        return python.parent

    def _log_tail(self, lines: int = 30) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def _signal_and_wait(self, signum: signal.Signals) -> None:
        if self.process is not None:
            signal_and_reap(self.process, signum, STOP_TIMEOUT_S)
        self.process = None


@contextlib.contextmanager
def running_triton_server(repository: Path, workdir: Path) -> Iterator[TritonServer]:
    """Context manager: a started `TritonServer`, always stopped by PID on exit."""
    server = TritonServer(repository, workdir)
    try:
        yield server.start()
    finally:
        server.stop()
