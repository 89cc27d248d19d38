"""Batch functions on the CPU inference runtimes: the exported graphs run by ONNX Runtime or OpenVINO.

The daemon exports the checkpoint once into two ONNX graphs (`streamguard.model.served.ServedGraphs`): scores
only, run for every face, and scores with masks, run for the faces at or above the mask gate, so real faces
never pay for the mask decoder (neither runtime skips outputs nobody asked for). Both runtimes take the same
files; `CompiledEngine` is the `MicroBatcher` batch function over either. Measured against PyTorch in
`streamguard bench --scenario runtimes` (docs/performance.md).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from streamguard.inference.engine import check_crop, own_mask
from streamguard.model.served import INPUT_NAME, ServedGraphs
from streamguard.types import FaceCrop, Score

GraphRunner = Callable[[npt.NDArray[np.uint8]], list[npt.NDArray[np.float32]]]
"""Runs one graph on `(N, S, S, 3)` uint8 crops and returns its outputs in order."""


def onnxruntime_runner(path: Path, threads: int | None = None, *, spin: bool = False) -> GraphRunner:
    """An ONNX Runtime CPU session of `path` (`threads` intra-op threads; ONNX Runtime's default when None).

    `spin` lets idle intra-op threads spin-wait for the next batch (ONNX Runtime's own default): faster for a
    process that only runs the model, but in the daemon it burns the cores decoding needs.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1  # one batch at a time, from the batcher's single thread
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def run(images: npt.NDArray[np.uint8]) -> list[npt.NDArray[np.float32]]:
        return [np.asarray(out, np.float32) for out in session.run(None, {INPUT_NAME: images})]

    return run


def openvino_runner(path: Path, precision: str = "f32", threads: int | None = None) -> GraphRunner:
    """An OpenVINO CPU model compiled from `path`, in `precision` (``f32`` or ``bf16``) for latency.

    OpenVINO picks bf16 by itself on CPUs that have it; the precision is set explicitly so that scores stay
    those of fp32 unless bf16 was asked for (and measured: docs/performance.md).
    """
    import openvino as ov

    config: dict[str, str] = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": precision}
    if threads is not None:
        config["INFERENCE_NUM_THREADS"] = str(threads)
    compiled = ov.Core().compile_model(str(path), "CPU", config)
    request = compiled.create_infer_request()

    def run(images: npt.NDArray[np.uint8]) -> list[npt.NDArray[np.float32]]:
        results = request.infer({INPUT_NAME: images})
        return [np.array(results[output], np.float32) for output in compiled.outputs]

    return run


class CompiledEngine:
    """Scores batches of `FaceCrop`s with two exported graphs; the `MicroBatcher` batch function.

    Not thread-safe (one inference request per graph): call it from one thread, as the batcher does.

    Args:
        scores: Runs the scores-only graph.
        full: Runs the graph with masks.
        version: The model version stamped on every `Score`.
        input_size: Side of the square crops the graphs take.
        mask_min_p: Masks only for faces scoring at least this (others get zeros); None: for every face.
    """

    def __init__(
        self, scores: GraphRunner, full: GraphRunner, version: str, input_size: int, mask_min_p: float | None = None
    ) -> None:
        self._scores = scores
        self._full = full
        self._version = version
        self._input_size = input_size
        self.mask_min_p = mask_min_p

    @classmethod
    def load(
        cls,
        graphs: ServedGraphs,
        make_runner: Callable[[Path], GraphRunner],
        version: str,
        input_size: int,
        mask_min_p: float | None = None,
    ) -> CompiledEngine:
        """An engine over `graphs`, each opened with `make_runner` (`onnxruntime_runner`, `openvino_runner`)."""
        return cls(make_runner(graphs.scores), make_runner(graphs.full), version, input_size, mask_min_p)

    @property
    def version(self) -> str:
        """The model version stamped on every `Score`."""
        return self._version

    @property
    def input_size(self) -> int:
        """Side of the square crops the graphs take."""
        return self._input_size

    def check(self, face: FaceCrop) -> None:
        """Raise `ValueError` when `face.pixels` is not a crop of the graphs' size."""
        check_crop(face, self._input_size)

    def process(self, faces: Sequence[FaceCrop]) -> list[Score]:
        """Score a batch, one `Score` per face in order; masks only for gated faces.

        Raises:
            ValueError: A crop has the wrong shape or dtype.
        """
        if not faces:
            return []
        for face in faces:
            self.check(face)
        crops = np.stack([face.pixels for face in faces])
        size = self._input_size
        masks = np.zeros((len(faces), size, size), np.float32)
        if self.mask_min_p is None:
            p_fake, masks = self._full(crops)
        else:
            p_fake = self._scores(crops)[0]
            gated = p_fake >= self.mask_min_p
            if gated.any():
                masks[gated] = self._full(crops[gated])[1]
        return [
            Score(face=face, value=float(p_fake[i]), mask=own_mask(masks[i]), model_version=self._version)
            for i, face in enumerate(faces)
        ]

    def warmup(self, batch_size: int = 1) -> None:
        """One batch of black crops through both graphs (first calls pay for lazy set-up)."""
        crops = np.zeros((batch_size, self._input_size, self._input_size, 3), np.uint8)
        self._scores(crops)
        self._full(crops)
