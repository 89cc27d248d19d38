"""The Python-backend model the test Triton serves: the exported ``model.onnx`` run with ONNX Runtime.

Triton's dynamic batcher hands `execute` several requests at once (from several daemons, or several streams'
batches); they are concatenated into one ONNX Runtime call and split again, as the ONNX Runtime backend
does. Each request gets only the outputs it asked for. Runs inside Triton's Python stub, not in pytest.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import triton_python_backend_utils as pb_utils  # type: ignore[import-not-found]  # Triton's stub provides it


class TritonPythonModel:
    """Triton's Python-backend model interface."""

    def initialize(self, args: dict[str, str]) -> None:
        """Load the version's ``model.onnx`` (numpy<2 and ONNX Runtime from the configured folder)."""
        config = json.loads(args["model_config"])
        sys.path.insert(0, config["parameters"]["site_packages"]["string_value"])
        import onnxruntime as ort

        path = os.path.join(args["model_repository"], args["model_version"], "model.onnx")
        self.session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        self.output_names = [output.name for output in self.session.get_outputs()]

    def execute(self, requests: list[Any]) -> list[Any]:
        """One ONNX Runtime call for all `requests`, split back into one response each."""
        import numpy as np

        images = [pb_utils.get_input_tensor_by_name(request, "images").as_numpy() for request in requests]
        results = dict(zip(self.output_names, self.session.run(None, {"images": np.concatenate(images)}), strict=True))
        responses, start = [], 0
        for request, batch in zip(requests, images, strict=True):
            end = start + len(batch)
            wanted = request.requested_output_names() or self.output_names
            tensors = [pb_utils.Tensor(name, np.ascontiguousarray(results[name][start:end])) for name in wanted]
            responses.append(pb_utils.InferenceResponse(output_tensors=tensors))
            start = end
        return responses
