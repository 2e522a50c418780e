"""API schemas of fine-tune runs."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from ready4hire.validation import InputSchema, OptionalText, Text

from .jobs import RequestedJobOut

Method = Literal["full", "lora", "qlora", "dpo"]
RunStatus = Literal["pending", "running", "done", "failed", "cancelled"]


class FineTuneHyperparametersIn(InputSchema):
    """Each one left out takes the method's default (see the run's `hyperparameters` once created)."""

    max_steps: int | None = Field(default=None, ge=0, description="0: train for `epochs`.")
    epochs: float | None = Field(default=None, gt=0)
    learning_rate: float | None = Field(default=None, gt=0, lt=1)
    batch_size: int | None = Field(default=None, ge=1)
    grad_accum: int | None = Field(default=None, ge=1)
    lora_r: int | None = Field(default=None, ge=1)
    lora_alpha: int | None = Field(default=None, ge=1)
    lora_dropout: float | None = Field(default=None, ge=0, lt=1)
    target_modules: list[Text] | None = Field(default=None, description='e.g. ["q_proj", "v_proj"].')
    max_length: int | None = Field(default=None, ge=16, description="Longer examples are left out, not cut.")
    seed: int | None = Field(default=None, ge=0)
    gradient_checkpointing: bool | None = Field(default=None, description="Off unless asked: it costs speed.")


class FineTuneRunIn(InputSchema):
    dataset_export_id: int
    base_model: OptionalText = Field(
        default="",
        description="A local model directory, or a Hugging Face hub id (org/name or org/name@revision), fetched "
        "into the HF cache before the run is stored (stored pinned to its commit: org/name@sha).",
    )
    init_tiny: bool = Field(default=False, description="Start from a tiny random-initialised model instead.")
    method: Method | None = Field(
        default=None, description="Default: full with init_tiny, lora otherwise; dpo needs a preference export."
    )
    base_run_id: int | None = Field(default=None, description="Start from the merged model of a finished run.")
    backend: Literal["trl", "unsloth"] = Field(default="trl", description="unsloth needs a CUDA GPU and unsloth.")
    hyperparameters: FineTuneHyperparametersIn = Field(default_factory=FineTuneHyperparametersIn)


class FineTuneRunOut(RequestedJobOut):
    id: int
    dataset_export_id: int
    base_model: str
    init_tiny: bool
    method: str
    backend: str
    hyperparameters: dict[str, Any]
    status: str
    progress: int = Field(description="Percent done.")
    step: int
    max_steps: int
    epoch: float
    loss: float | None
    error: str
    device: str = Field(description="cpu, cuda or mps, once training starts.")
    gpu_name: str = Field(description="The visible GPU model(s), e.g. '2 × NVIDIA H100 80GB HBM3'; '' off a GPU.")
    precision: str = Field(description="fp32, fp16, bf16 or 4bit (QLoRA), once training starts.")
    tokens_per_second: float | None = Field(
        description="Non-padding training tokens per second of the training loop (all processes), once done."
    )
    peak_memory_mb: float | None = Field(
        description="Peak memory once done: the GPU allocator's peak on a GPU, the process's peak RSS on a CPU "
        "(metrics.peak_memory_measure says which)."
    )


class FineTuneRunDetailOut(FineTuneRunOut):
    metrics: dict[str, Any] = Field(description="train_loss and eval_loss per logged step; totals once done.")
    outputs: dict[str, str] = Field(description="merged, adapter, gguf, modelfile paths and the version(s).")
    output_dir: str
    log: str


class FineTuneRunFilters(InputSchema):
    status: RunStatus | None = None
    dataset_export_id: int | None = None
