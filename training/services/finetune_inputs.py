"""What a fine-tune run may be asked to do: the check that the `[train]` extra is installed, of its base
model (a confined local directory, a Hugging Face hub id fetched into the HF cache, or a finished run's merged
model), and of its hyper-parameters against the defaults for its method. Checks: they raise InvalidInput and
store no row (a hub base is downloaded into the HF cache, nothing else)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ready4hire.errors import InvalidInput
from ready4hire.paths import looks_like_path, path_confine

from ..finetune.deps import missing_train_packages, train_extra_message
from ..models import FineTuneRun, JobStatus

Method = FineTuneRun.Method

# Defaults by method. A random-initialised tiny model needs a far higher learning rate than a pretrained
# one, and LoRA a higher one than full fine-tuning.
DEFAULT_LEARNING_RATES = {"tiny": 3e-3, Method.FULL: 2e-5, Method.LORA: 2e-4, Method.QLORA: 2e-4, Method.DPO: 5e-5}
DEFAULT_HYPERPARAMETERS: dict[str, Any] = {
    "max_steps": 0,
    "epochs": 1.0,
    "batch_size": 1,
    "grad_accum": 1,
    "lora_r": 16,
    "lora_alpha": 32,
    "lora_dropout": 0.05,
    "target_modules": ["q_proj", "v_proj"],
    "max_length": 2048,
    "seed": 42,
    "gradient_checkpointing": False,
}
TINY_DEFAULT_STEPS = 800


class TrainExtraMissing(InvalidInput, code="train_extra_missing"): ...


def _require_train_extra() -> None:
    missing = missing_train_packages()
    if missing:
        raise TrainExtraMissing(train_extra_message(missing))


def _base_model_check(base_model: str) -> str:
    """A local checkpoint directory (confined to the allowed folders), or a Hugging Face hub id (`org/name`,
    `org/name@revision`) fetched into the HF cache now, before anything is stored: the stored base is then
    the id pinned to the commit it resolved to, so the run (and a worker on another machine) trains on
    exactly that snapshot."""
    base_model = base_model.strip()
    if not base_model:
        raise InvalidInput(
            "Give a base model (a local directory or a Hugging Face id such as Qwen/Qwen2.5-0.5B-Instruct), "
            "or init_tiny.",
            field="base_model",
        )
    from ..finetune.hub import HubBaseError, HubId, hub_snapshot, parse_hub_id

    hub_id = parse_hub_id(base_model)
    if hub_id is not None:
        try:
            snapshot = hub_snapshot(hub_id)
        except HubBaseError as exc:
            raise InvalidInput(str(exc), field="base_model") from None
        return str(HubId(repo=hub_id.repo, revision=snapshot.name))
    if not looks_like_path(base_model):
        raise InvalidInput(
            f"{base_model!r} is neither a model folder (an absolute path inside the allowed folders) nor a Hugging "
            "Face hub id (org/name, optionally @revision).",
            field="base_model",
        )
    path = path_confine(base_model, field="base_model")
    if not path.is_dir():
        raise InvalidInput(
            f"Base model directory {base_model} does not exist in the allowed model folders.", field="base_model"
        )
    if not (path / "config.json").is_file():
        raise InvalidInput(f"{path} has no config.json: not a Hugging Face model directory.", field="base_model")
    return str(path)


def base_model_folder(base_model: str) -> str:
    """The local folder a run trains from: a hub id's snapshot in the HF cache (fetched again where it is
    missing, e.g. on a worker of another machine; HubBaseError, a FineTuneError, when it can't be), else the
    folder itself."""
    from ..finetune.hub import hub_snapshot, parse_hub_id

    hub_id = parse_hub_id(base_model)
    return str(hub_snapshot(hub_id)) if hub_id is not None else base_model


def _base_run_checkpoint(run_id: int) -> str:
    """The merged checkpoint of a finished run, to train on top of (DPO after SFT)."""
    run = FineTuneRun.objects.filter(pk=run_id).first()
    if run is None or run.status != JobStatus.DONE or "merged" not in run.outputs:
        raise InvalidInput(f"Fine-tune run {run_id} is not a finished run with a merged model.", field="base_run_id")
    merged = Path(run.outputs["merged"])
    if not (merged / "config.json").is_file():
        raise InvalidInput(f"The merged model of run {run_id} is gone from {merged}.", field="base_run_id")
    return str(merged)


def _hyperparameters(values: dict[str, Any], *, method: str, init_tiny: bool) -> dict[str, Any]:
    """The run's hyper-parameters: the defaults for its method with `values` applied, each checked."""
    unknown = set(values) - set(DEFAULT_HYPERPARAMETERS) - {"learning_rate"}
    if unknown:
        raise InvalidInput(f"Unknown hyper-parameters: {', '.join(sorted(unknown))}.", field="hyperparameters")
    merged = {
        **DEFAULT_HYPERPARAMETERS,
        "learning_rate": DEFAULT_LEARNING_RATES["tiny" if init_tiny else method],
        **({"max_steps": TINY_DEFAULT_STEPS} if init_tiny else {}),
        **{key: value for key, value in values.items() if value is not None},
    }
    checks: list[tuple[str, Callable[[Any], bool], str]] = [
        ("max_steps", lambda v: isinstance(v, int) and 0 <= v <= 1_000_000, "an integer from 0 (use epochs) up"),
        ("epochs", lambda v: isinstance(v, int | float) and 0 < v <= 1000, "a number above 0"),
        ("learning_rate", lambda v: isinstance(v, int | float) and 0 < v < 1, "a number between 0 and 1"),
        ("batch_size", lambda v: isinstance(v, int) and 1 <= v <= 4096, "an integer from 1"),
        ("grad_accum", lambda v: isinstance(v, int) and 1 <= v <= 4096, "an integer from 1"),
        ("lora_r", lambda v: isinstance(v, int) and 1 <= v <= 1024, "an integer from 1"),
        ("lora_alpha", lambda v: isinstance(v, int) and 1 <= v <= 4096, "an integer from 1"),
        ("lora_dropout", lambda v: isinstance(v, int | float) and 0 <= v < 1, "a number from 0 to below 1"),
        ("max_length", lambda v: isinstance(v, int) and 16 <= v <= 1_000_000, "an integer from 16"),
        ("seed", lambda v: isinstance(v, int) and 0 <= v < 2**32, "an integer from 0"),
        ("gradient_checkpointing", lambda v: isinstance(v, bool), "true or false"),
    ]
    for key, valid, expected in checks:
        value = merged[key]
        if isinstance(value, bool) and key != "gradient_checkpointing" or not valid(value):
            raise InvalidInput(f"{key} must be {expected}, got {value!r}.", field=f"hyperparameters.{key}")
    modules = merged["target_modules"]
    if isinstance(modules, str):
        modules = [part.strip() for part in modules.split(",")]
    if not isinstance(modules, list) or not modules or not all(isinstance(m, str) and m.strip() for m in modules):
        raise InvalidInput(
            "target_modules must be module names, e.g. q_proj,v_proj.", field="hyperparameters.target_modules"
        )
    merged["target_modules"] = [module.strip() for module in modules]
    merged["epochs"] = float(merged["epochs"])
    merged["learning_rate"] = float(merged["learning_rate"])
    merged["lora_dropout"] = float(merged["lora_dropout"])
    return merged
