"""The batch function for a remote detector: face crops to a Triton Inference Server, `Score`s back.

The micro-batcher calls `TritonEngine.process` in its worker thread, one batch at a time, exactly as it calls
the local `DetectorEngine`; so the client is `tritonclient`'s blocking gRPC client, used from that thread
(an asyncio client would need a second event loop there and gains nothing for one request at a time).
Triton merges the batches of many daemons into larger ones on the GPU (dynamic batching).

Masks cost bandwidth: a 160-pixel float mask is 100 KB per face. The scores are requested first; the mask
output only for the faces at or above the mask gate (`mask_min_p`), in a second request on the same model.

Failures stay within their batch: a refused or timed-out request raises `InferenceUnavailable` for that
batch's faces only. After a failure the engine waits (capped exponential backoff) before it sends again;
batches in the meantime fail at once, without a request, so a dead server costs nothing per frame.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from streamguard.clock import SYSTEM_CLOCK, Clock
from streamguard.config.inference import TritonConfig
from streamguard.errors import ConfigError, InferenceUnavailable
from streamguard.inference.engine import check_crop, own_mask
from streamguard.ingest.backoff import Backoff
from streamguard.model.served import INPUT_NAME, MASK_OUTPUT, SCORE_OUTPUT, VERSION_PARAMETER
from streamguard.types import FaceCrop, Score

logger = logging.getLogger(__name__)


class TritonEngine:
    """Scores batches of `FaceCrop`s on a Triton server; the `MicroBatcher` batch function.

    Args:
        config: The server, the model and the timeouts.
        mask_min_p: Request masks only for faces scoring at least this (others get an all-zero mask).
        clock: Time for the retry backoff.
    """

    def __init__(self, config: TritonConfig, mask_min_p: float | None = None, clock: Clock = SYSTEM_CLOCK) -> None:
        import tritonclient.grpc as grpcclient

        self.config = config
        self.mask_min_p = mask_min_p
        self._grpc = grpcclient
        self._client = grpcclient.InferenceServerClient(config.url)
        self._clock = clock
        self._backoff = Backoff(config.backoff_initial_s, config.backoff_max_s, jitter=0.2)
        self._lock = threading.Lock()
        self._retry_at: float | None = None
        self._input_size = 0
        self._version = ""
        self.last_error = ""

    @property
    def version(self) -> str:
        """The served model's version string (stamped on every `Score`)."""
        return self._version

    @property
    def input_size(self) -> int:
        """Side of the square crops the served model expects."""
        return self._input_size

    @property
    def reachable(self) -> bool:
        """Whether the last request succeeded (``False`` while waiting to retry)."""
        with self._lock:
            return self._retry_at is None

    def connect(self) -> None:
        """Wait until the model is ready on the server, then read its crop size and version (blocking).

        Raises:
            ConfigError: The server or the model is not ready within `connect_timeout_s`, or the model does not
                have the inputs and outputs of a `streamguard export --format triton` repository.
        """
        deadline = time.monotonic() + self.config.connect_timeout_s
        where = f"inference.triton: model {self.config.model_name!r} at {self.config.url}"
        while not self._model_ready():
            if time.monotonic() > deadline:
                raise ConfigError(f"{where} not ready within {self.config.connect_timeout_s:g} s: {self.last_error}")
            time.sleep(0.25)
        config = self._client.get_model_config(self.config.model_name).config
        self._input_size, self._version = _read_model_config(config, where)
        logger.info("inference on Triton: %s, version %s", where.removeprefix("inference.triton: "), self._version)

    def check(self, face: FaceCrop) -> None:
        """Raise `ValueError` when `face.pixels` is not a crop of the served size."""
        check_crop(face, self._input_size)

    def process(self, faces: Sequence[FaceCrop]) -> list[Score]:
        """Score a batch, one `Score` per face in the same order.

        Raises:
            ValueError: A crop has the wrong shape or dtype.
            InferenceUnavailable: The server did not answer (or the engine is waiting before it retries).
        """
        if not faces:
            return []
        for face in faces:
            self.check(face)
        self._wait_for_retry()
        crops = np.stack([face.pixels for face in faces])
        try:
            p_fake = self._infer(crops, SCORE_OUTPUT).reshape(len(faces))
            gated = np.ones(len(faces), bool) if self.mask_min_p is None else p_fake >= self.mask_min_p
            masks = np.zeros((len(faces), self._input_size, self._input_size), np.float32)
            if gated.any():
                masks[gated] = self._infer(crops[gated], MASK_OUTPUT)
        except InferenceUnavailable as e:
            self._failed(str(e))
            raise
        self._succeeded()
        return [
            Score(face=face, value=float(p_fake[i]), mask=own_mask(masks[i]), model_version=self._version)
            for i, face in enumerate(faces)
        ]

    def warmup(self, batch_size: int = 1) -> None:
        """One batch of black crops, so the first real batch does not pay for the server's lazy set-up."""
        crops = np.zeros((batch_size, self._input_size, self._input_size, 3), np.uint8)
        self._infer(crops, SCORE_OUTPUT)

    def close(self) -> None:
        """Close the gRPC channel."""
        self._client.close()

    def _model_ready(self) -> bool:
        try:
            return bool(self._client.is_model_ready(self.config.model_name))
        except self._grpc.InferenceServerException as e:
            self.last_error = _describe(e)
            return False

    def _infer(self, crops: npt.NDArray[np.uint8], output: str) -> npt.NDArray[np.float32]:
        grpc = self._grpc
        images = grpc.InferInput(INPUT_NAME, list(crops.shape), "UINT8")
        images.set_data_from_numpy(crops)
        try:
            result = self._client.infer(
                self.config.model_name,
                [images],
                outputs=[grpc.InferRequestedOutput(output)],
                client_timeout=self.config.timeout_s,
            )
        except grpc.InferenceServerException as e:
            timed_out = (e.status() or "").endswith("DEADLINE_EXCEEDED")
            raise InferenceUnavailable(f"triton {self.config.url}: {_describe(e)}", timed_out=timed_out) from e
        array = result.as_numpy(output)
        if array is None:
            raise InferenceUnavailable(f"triton {self.config.url}: the answer has no {output!r} output")
        return np.asarray(array, np.float32)

    def _wait_for_retry(self) -> None:
        with self._lock:
            retry_at = self._retry_at
            if retry_at is not None and self._clock.monotonic() < retry_at:
                raise InferenceUnavailable(f"triton {self.config.url}: waiting to retry after: {self.last_error}")

    def _failed(self, message: str) -> None:
        with self._lock:
            first = self._retry_at is None
            self._retry_at = self._clock.monotonic() + self._backoff.next_delay()
            self.last_error = message
        if first:
            logger.warning("inference unavailable: %s; faces go unscored until it answers", message)

    def _succeeded(self) -> None:
        with self._lock:
            recovered = self._retry_at is not None
            self._retry_at = None
            self._backoff.reset()
        if recovered:
            logger.warning("inference on Triton %s answers again", self.config.url)


def _read_model_config(config: Any, where: str) -> tuple[int, str]:
    """The crop size and version string of a served model, checked against what the daemon sends and reads."""
    inputs = {tensor.name: list(tensor.dims) for tensor in config.input}
    outputs = {tensor.name for tensor in config.output}
    dims = inputs.get(INPUT_NAME, [])
    if len(dims) != 3 or dims[0] != dims[1] or dims[2] != 3 or not {SCORE_OUTPUT, MASK_OUTPUT} <= outputs:
        raise ConfigError(
            f"{where}: expected input {INPUT_NAME!r} [S, S, 3] and outputs {SCORE_OUTPUT!r}, {MASK_OUTPUT!r} "
            f"(a `streamguard export --format triton` repository); got inputs {inputs}, outputs {sorted(outputs)}"
        )
    parameter = config.parameters.get(VERSION_PARAMETER)
    version = parameter.string_value if parameter is not None and parameter.string_value else config.name
    return int(dims[0]), str(version)


def _describe(error: Any) -> str:
    status = error.status() or ""
    message = error.message() or str(error)
    return f"{status.removeprefix('StatusCode.')}: {message}" if status else message
