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
    base_model: OptionalText = Field(default="", description="A local model directory or a cached Hugging Face id.")
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


class FineTuneRunDetailOut(FineTuneRunOut):
    metrics: dict[str, Any] = Field(description="train_loss and eval_loss per logged step; totals once done.")
    outputs: dict[str, str] = Field(description="merged, adapter, gguf, modelfile paths and the version(s).")
    output_dir: str
    log: str


class FineTuneRunFilters(InputSchema):
    status: RunStatus | None = None
    dataset_export_id: int | None = None
