"""Supervised fine-tuning with TRL's SFTTrainer (+ PEFT LoRA / QLoRA) on prompt–completion pairs.

Each conversation becomes a prompt — the system and user turns through the base tokenizer's chat template,
ending with the generation prompt — and a completion — the label JSON and EOS — so the loss covers exactly
what the grader must write. Imports torch, transformers, peft and trl: load it only with the `[train]` extra.
"""

from __future__ import annotations

import dataclasses
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets
import torch
import transformers
import trl
from transformers import AutoModelForCausalLM, AutoTokenizer, PrinterCallback, TrainerCallback
from trl import SFTConfig

from . import runstats
from .data import Conversation
from .errors import TrainingError

METHODS = ("full", "lora", "qlora")


@dataclass(frozen=True)
class TrainSettings:
    method: str = "lora"
    max_steps: int = 0  # 0: train for `epochs`
    epochs: float = 1.0
    learning_rate: float = 2e-4
    batch_size: int = 1
    grad_accum: int = 1
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    target_modules: tuple[str, ...] = ("q_proj", "v_proj")
    max_length: int = 2048
    seed: int = 42
    gradient_checkpointing: bool = False
    warmup_ratio: float = 0.05
    evaluations: int = 4  # validation passes over the run (0: none)
    eval_max_examples: int = 64
    backend: str = "trl"  # "unsloth": load, wrap and merge through Unsloth (`unsloth`), the rest shared


@dataclass
class TrainingProgress:
    step: int
    max_steps: int
    epoch: float
    loss: float | None
    train_loss: list[dict[str, float]] = field(default_factory=list)
    eval_loss: list[dict[str, float]] = field(default_factory=list)
    runtime: runstats.DeviceInfo | None = None  # known once training starts


@dataclass
class TrainOutcome:
    model: Any  # the trained model: a PEFT model for lora/qlora
    tokenizer: Any
    metrics: dict[str, Any]


class ProgressCallback(TrainerCallback):
    """Hands the progress to `report` every `every_steps` steps or `every_seconds` seconds (whichever comes
    first), at each logged loss, and at the end; writes every logged line to `log`."""

    def __init__(
        self,
        report: Callable[[TrainingProgress], None],
        log: Callable[[str], None],
        *,
        every_steps: int = 10,
        every_seconds: float = 2.0,
    ) -> None:
        self.report = report
        self.log = log
        self.every_steps = max(1, every_steps)
        self.every_seconds = every_seconds
        self.progress = TrainingProgress(step=0, max_steps=0, epoch=0.0, loss=None)
        self._last_step = 0
        self._last_time = 0.0

    def _send(self, state: Any) -> None:
        self.progress.step = int(state.global_step)
        self.progress.max_steps = int(state.max_steps)
        self.progress.epoch = round(float(state.epoch or 0.0), 4)
        self._last_step, self._last_time = self.progress.step, time.monotonic()
        self.report(self.progress)

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        model = kwargs.get("model")
        if model is not None:
            self.progress.runtime = runstats.device_info(
                model, bf16=bool(args.bf16), fp16=bool(args.fp16), processes=int(args.world_size)
            )
        runstats.peak_memory_reset()
        self._send(state)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if (
            state.global_step - self._last_step >= self.every_steps
            or time.monotonic() - self._last_time >= self.every_seconds
        ):
            self._send(state)

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        logs = logs or {}
        point = {"step": int(state.global_step), "epoch": round(float(state.epoch or 0.0), 4)}
        if "loss" in logs:
            self.progress.loss = float(logs["loss"])
            self.progress.train_loss.append({**point, "loss": float(logs["loss"])})
        if "eval_loss" in logs:
            self.progress.eval_loss.append({**point, "loss": float(logs["eval_loss"])})
        shown = ", ".join(
            f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}" for key, value in logs.items()
        )
        self.log(f"step {state.global_step}/{state.max_steps}: {shown}")
        self._send(state)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._send(state)


def quiet_progress_bars() -> None:
    """A worker's or a command's output is the run's own log and bar; the libraries' bars only clutter it,
    as does a deprecation that TRL triggers inside transformers (nothing for the person running it to do)."""
    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()
    warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)


def qlora_unavailable_reason() -> str:
    """Why QLoRA cannot run here ('' when it can): it quantizes the base to 4 bits with bitsandbytes on a GPU."""
    import importlib.util

    if not torch.cuda.is_available():
        return "QLoRA needs a CUDA GPU (bitsandbytes 4-bit); this machine has none: use --method lora or full."
    if importlib.util.find_spec("bitsandbytes") is None:
        return "QLoRA needs bitsandbytes: pip install bitsandbytes (on a CUDA machine)."
    return ""


def load_base(base: str, *, method: str) -> tuple[Any, Any]:
    """The tokenizer and model of `base`, a local folder (a hub base's snapshot in the HF cache); never
    downloaded here."""
    tokenizer = AutoTokenizer.from_pretrained(base, local_files_only=True)
    if not tokenizer.chat_template:
        raise TrainingError(f"The tokenizer of {base} has no chat template: choose an instruct/chat base model.")
    options: dict[str, Any] = {"local_files_only": True}
    if method == "qlora":
        reason = qlora_unavailable_reason()
        if reason:
            raise TrainingError(reason)
        from transformers import BitsAndBytesConfig

        options["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.bfloat16
        )
        # A 4-bit model cannot be moved after loading: each process (accelerate launch) loads it on its own GPU.
        options["device_map"] = {"": int(os.environ.get("LOCAL_RANK", "0"))}
    elif torch.cuda.is_available():
        options["dtype"] = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    else:
        options["dtype"] = torch.float32
    model = AutoModelForCausalLM.from_pretrained(base, **options)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer, model


def prompt_completion(tokenizer: Any, conversation: Conversation) -> dict[str, str]:
    """The turns before the answer through the chat template, with the generation prompt; the answer + EOS."""
    prompt = tokenizer.apply_chat_template(conversation[:-1], tokenize=False, add_generation_prompt=True)
    return {"prompt": prompt, "completion": conversation[-1]["content"] + tokenizer.eos_token}


def build_records(tokenizer: Any, conversations: list[Conversation], *, max_length: int) -> tuple[list[dict], int]:
    """Prompt–completion records that fit `max_length` tokens, and how many did not.

    A longer one is left out rather than truncated: cutting the end would teach an unfinished JSON.
    """
    records = [prompt_completion(tokenizer, conversation) for conversation in conversations]
    if not records:
        return [], 0
    lengths = tokenizer([r["prompt"] + r["completion"] for r in records], add_special_tokens=False)["input_ids"]
    kept = [record for record, ids in zip(records, lengths, strict=True) if len(ids) <= max_length]
    return kept, len(records) - len(kept)


def split_records(
    build: Callable[..., tuple[list[dict], int]],
    tokenizer: Any,
    train: list,
    val: list,
    *,
    settings: TrainSettings,
    log: Callable[[str], None],
    kind: str,
) -> tuple[list[dict], list[dict], int]:
    """Training and validation records from `build`, and how many training ones were too long (said in the
    log); refuses a run with nothing to train on (`kind` names the records, e.g. "training examples")."""
    train_records, dropped = build(tokenizer, train, max_length=settings.max_length)
    if not train_records:
        raise TrainingError(f"No {kind[:-1]} fits max_length={settings.max_length} tokens: raise --max-length.")
    if dropped:
        log(f"left out {dropped} {kind} longer than max_length={settings.max_length} tokens")
    val_records, _ = build(tokenizer, val[: settings.eval_max_examples], max_length=settings.max_length)
    return train_records, val_records, dropped


def peft_config(settings: TrainSettings) -> Any:
    if settings.method == "full":
        return None
    from peft import LoraConfig

    return LoraConfig(
        r=settings.lora_r,
        lora_alpha=settings.lora_alpha,
        lora_dropout=settings.lora_dropout,
        target_modules=list(settings.target_modules),
        task_type="CAUSAL_LM",
    )


def _checkpointing(enabled: bool) -> dict[str, bool]:
    """Gradient (activation) checkpointing, off unless asked: TRL turns it on by default, and on a small
    model it costs ~40% of the speed for memory we do not need. transformers 5 renamed the option."""
    names = {option.name for option in dataclasses.fields(SFTConfig)}
    return {"activation_checkpointing" if "activation_checkpointing" in names else "gradient_checkpointing": enabled}


def common_config(settings: TrainSettings, output_dir: Path, *, train_size: int, has_eval: bool) -> dict[str, Any]:
    """The trainer arguments SFT and DPO share: schedule, batch, precision, logging and evaluation."""
    steps_per_epoch = max(1, -(-train_size // (settings.batch_size * settings.grad_accum)))
    total_steps = settings.max_steps or max(1, round(steps_per_epoch * settings.epochs))
    evaluate = has_eval and settings.evaluations > 0
    on_gpu = torch.cuda.is_available()
    return dict(
        output_dir=str(output_dir),
        max_steps=settings.max_steps or -1,
        num_train_epochs=settings.epochs,
        learning_rate=settings.learning_rate,
        lr_scheduler_type="cosine",
        warmup_steps=round(total_steps * settings.warmup_ratio),
        per_device_train_batch_size=settings.batch_size,
        per_device_eval_batch_size=settings.batch_size,
        gradient_accumulation_steps=settings.grad_accum,
        **_checkpointing(settings.gradient_checkpointing),
        max_length=settings.max_length,
        seed=settings.seed,
        data_seed=settings.seed,
        bf16=on_gpu and torch.cuda.is_bf16_supported(),
        use_cpu=not on_gpu,
        logging_steps=max(1, total_steps // 20),
        logging_first_step=True,
        eval_strategy="steps" if evaluate else "no",
        eval_steps=max(1, total_steps // settings.evaluations) if evaluate else None,
        save_strategy="no",
        # Under accelerate launch every trainable parameter takes part in each step (LoRA's frozen base is not
        # in DDP's reducer), so the search for unused ones is only a cost (and fails with checkpointing).
        ddp_find_unused_parameters=False,
        report_to=[],
        disable_tqdm=True,
        dataloader_num_workers=0,
    )


def _sft_config(settings: TrainSettings, output_dir: Path, *, train_size: int, has_eval: bool) -> SFTConfig:
    common = common_config(settings, output_dir, train_size=train_size, has_eval=has_eval)
    # Looked up when called, as `trl.SFTTrainer` below: importing Unsloth replaces both with its subclasses.
    return trl.SFTConfig(**common, completion_only_loss=True, packing=False)


def train(
    *,
    base: str,
    train_conversations: list[Conversation],
    val_conversations: list[Conversation],
    settings: TrainSettings,
    work_dir: Path,
    report: Callable[[TrainingProgress], None],
    log: Callable[[str], None],
) -> TrainOutcome:
    """Fine-tune `base` on the conversations; returns the trained model (adapter still separate for LoRA)."""
    from datasets import Dataset

    if settings.method not in METHODS:
        raise TrainingError(f"method must be one of {', '.join(METHODS)}")
    if settings.backend == "unsloth":
        from . import unsloth

        tokenizer, model = unsloth.load_base(base, settings=settings)  # already LoRA-wrapped
        peft = None
    else:
        tokenizer, model = load_base(base, method=settings.method)
        peft = peft_config(settings)
    train_records, val_records, dropped = split_records(
        build_records, tokenizer, train_conversations, val_conversations, settings=settings, log=log,
        kind="training examples",
    )  # fmt: skip
    log(
        f"{len(train_records)} training and {len(val_records)} validation examples, method {settings.method}, "
        f"backend {settings.backend}"
    )
    callback = ProgressCallback(report, log)
    trainer = trl.SFTTrainer(
        model=model,
        args=_sft_config(settings, work_dir, train_size=len(train_records), has_eval=bool(val_records)),
        train_dataset=Dataset.from_list(train_records),
        eval_dataset=Dataset.from_list(val_records) if val_records and settings.evaluations else None,
        processing_class=tokenizer,
        peft_config=peft,
        callbacks=[callback],
    )
    examples = {"train": len(train_records), "val": len(val_records), "too_long": dropped}
    return run_trainer(trainer, callback, tokenizer=tokenizer, examples=examples)


def run_trainer(trainer: Any, callback: ProgressCallback, *, tokenizer: Any, examples: dict[str, int]) -> TrainOutcome:
    """Train with a configured TRL trainer (SFT or DPO) and measure the run."""
    trainer.remove_callback(PrinterCallback)  # progress goes to the row and the run's log, not to stdout
    started = time.perf_counter()
    result = trainer.train()
    elapsed = time.perf_counter() - started
    # TRL counts the non-padding tokens it trained on (attention mask), across the whole run and every process.
    tokens = int(getattr(trainer, "_total_train_tokens", 0))
    runtime = callback.progress.runtime or runstats.device_info(trainer.model)
    peak_mb, peak_kind = runstats.peak_memory(runtime.device)
    parameters = sum(p.numel() for p in trainer.model.parameters())
    trainable = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
    metrics = {
        "train_loss": callback.progress.train_loss,
        "eval_loss": callback.progress.eval_loss,
        "mean_train_loss": float(result.training_loss),
        "final_train_loss": callback.progress.loss,
        "steps": int(trainer.state.global_step),
        "epochs": round(float(trainer.state.epoch or 0.0), 4),
        "train_seconds": round(elapsed, 2),
        "train_tokens": tokens,
        "tokens_per_second": runstats.tokens_per_second(tokens, elapsed),
        "peak_memory_mb": peak_mb,
        "peak_memory_measure": peak_kind,
        "examples": examples,
        "parameters": {"total": parameters, "trainable": trainable},
        **runtime.as_dict(),
    }
    return TrainOutcome(model=trainer.model, tokenizer=tokenizer, metrics=metrics)


def merge_and_save(
    outcome: TrainOutcome, *, base: str, method: str, adapter_dir: Path, merged_dir: Path, backend: str = "trl"
) -> None:
    """Save the result as a plain checkpoint in `merged_dir` (safetensors + tokenizer).

    For LoRA/QLoRA the adapter is saved first, then merged into a fresh full-precision copy of the base
    (`merge_and_unload`): a 4-bit base cannot take the merge exactly, and reloading also proves the saved
    adapter is complete. An Unsloth run merges with Unsloth's own `save_pretrained_merged`.
    """
    if backend == "unsloth":
        from . import unsloth

        unsloth.merge_and_save(outcome.model, outcome.tokenizer, adapter_dir=adapter_dir, merged_dir=merged_dir)
        return
    if method == "full":
        model = outcome.model
    else:
        from peft import PeftModel

        outcome.model.save_pretrained(adapter_dir)
        outcome.tokenizer.save_pretrained(adapter_dir)
        dtype = torch.float32 if not torch.cuda.is_available() else torch.float16
        base_model = AutoModelForCausalLM.from_pretrained(base, local_files_only=True, dtype=dtype)
        model = PeftModel.from_pretrained(base_model, adapter_dir).merge_and_unload()
    model.save_pretrained(merged_dir, safe_serialization=True)
    outcome.tokenizer.save_pretrained(merged_dir)
