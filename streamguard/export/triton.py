"""A Triton Inference Server model repository for a checkpoint: the ONNX graph and its ``config.pbtxt``.

Layout (Triton's): ``OUT/<model_name>/config.pbtxt`` and ``OUT/<model_name>/1/model.onnx``. The graph is the
one `streamguard.export.exporter` writes (uint8 crops in; calibrated P(fake) and the mask out; dynamic batch
axis), served by the ``onnxruntime`` backend with dynamic batching. The configuration is built as Triton's own
protobuf message (`tritonclient`'s ``model_config_pb2``), so a field Triton does not know cannot be written.
The checkpoint's version string travels in the ``streamguard_model_version`` parameter, which the daemon's
Triton client reads back and stamps on every score.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2 as mc

from streamguard.export.exporter import export_checkpoint
from streamguard.model.checkpoint import load_checkpoint
from streamguard.model.detector import checkpoint_version
from streamguard.model.served import INPUT_NAME, MASK_OUTPUT, SCORE_OUTPUT, VERSION_PARAMETER

MODEL_VERSION_DIR = "1"


@dataclass(frozen=True, slots=True)
class TritonModelOptions:
    """How Triton serves the model.

    Attributes:
        model_name: Its name in the repository (what clients ask for).
        max_batch: Triton's ``max_batch_size``: the most crops one execution takes.
        max_delay_ms: ``dynamic_batching.max_queue_delay_microseconds`` in milliseconds: how long Triton holds
            a request to merge it with others (from several daemons) into one batch.
        gpu: One instance on each GPU with ONNX Runtime's TensorRT accelerator in fp16, instead of CPU instances.
        cpu_instances: Model instances per server on CPU (each runs one batch at a time).
    """

    model_name: str = "streamguard"
    max_batch: int = 64
    max_delay_ms: float = 5.0
    gpu: bool = False
    cpu_instances: int = 1


def triton_model_config(input_size: int, version: str, options: TritonModelOptions) -> mc.ModelConfig:
    """The ``config.pbtxt`` message for a model taking `input_size`-pixel crops."""
    config = mc.ModelConfig(
        name=options.model_name,
        platform="onnxruntime_onnx",
        max_batch_size=options.max_batch,
        version_policy=mc.ModelVersionPolicy(latest=mc.ModelVersionPolicy.Latest(num_versions=1)),
        input=[mc.ModelInput(name=INPUT_NAME, data_type=mc.TYPE_UINT8, dims=[input_size, input_size, 3])],
        output=[
            # The graph's score is (N,): one value per crop, declared [1] and reshaped to a scalar per item.
            mc.ModelOutput(
                name=SCORE_OUTPUT, data_type=mc.TYPE_FP32, dims=[1], reshape=mc.ModelTensorReshape(shape=[])
            ),
            mc.ModelOutput(name=MASK_OUTPUT, data_type=mc.TYPE_FP32, dims=[input_size, input_size]),
        ],
        dynamic_batching=mc.ModelDynamicBatching(
            max_queue_delay_microseconds=round(options.max_delay_ms * 1000),
        ),
        parameters={VERSION_PARAMETER: mc.ModelParameter(string_value=version)},
    )
    if options.gpu:
        config.instance_group.append(mc.ModelInstanceGroup(kind=mc.ModelInstanceGroup.KIND_GPU, count=1))
        tensorrt = mc.ModelOptimizationPolicy.ExecutionAccelerators.Accelerator(
            name="tensorrt", parameters={"precision_mode": "FP16", "max_workspace_size_bytes": str(1 << 30)}
        )
        config.optimization.execution_accelerators.gpu_execution_accelerator.append(tensorrt)
    else:
        config.instance_group.append(
            mc.ModelInstanceGroup(kind=mc.ModelInstanceGroup.KIND_CPU, count=options.cpu_instances)
        )
    return config


def write_triton_repository(checkpoint: Path, out: Path, options: TritonModelOptions | None = None) -> Path:
    """Export `checkpoint` into a Triton model repository at `out`; returns the model's folder."""
    options = options or TritonModelOptions()
    _, meta = load_checkpoint(checkpoint)
    model_dir = out / options.model_name
    export_checkpoint(checkpoint, model_dir / MODEL_VERSION_DIR / "model.onnx", "onnx")
    config = triton_model_config(meta.input_size, checkpoint_version(checkpoint, meta), options)
    (model_dir / "config.pbtxt").write_text(text_format.MessageToString(config))
    return model_dir


def read_model_config(path: Path) -> mc.ModelConfig:
    """Parse a ``config.pbtxt`` strictly (an unknown field or a wrong type is a `ParseError`)."""
    return text_format.Parse(path.read_text(), mc.ModelConfig())
