"""`--backend unsloth`: the model loading, LoRA wrap and merge through Unsloth (a CUDA GPU and `unsloth`).

Only these differ from the TRL backend; the records, the SFTConfig, the progress callback, the metrics and
the outputs are the same code (`trainer.train`, `pipeline.run_finetune`). The calls follow Unsloth's
documented API: `FastLanguageModel.from_pretrained` (4-bit for QLoRA), `FastLanguageModel.get_peft_model`,
TRL's SFTTrainer (patched by Unsloth on import), `save_pretrained_merged(..., save_method="merged_16bit")`.

Unsloth patches transformers, TRL and PEFT when it is imported, so `import_unsloth` runs before the pipeline
imports `trainer` (which imports them). In a process that loaded them earlier (a worker that ran a TRL run
before) Unsloth still loads and patches the model, but some of its trainer speed-ups may be missing: the run's
log says so. Not run on a GPU in this project's CI: its tests replace the `unsloth` package with a CPU fake.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import TrainingError

PATCHED_LIBRARIES = ("transformers", "trl", "peft")


def import_unsloth(log: Callable[[str], None]) -> None:
    """Import Unsloth (it patches the libraries it finds and those imported after it); say in the log when
    it came after them."""
    early = [name for name in PATCHED_LIBRARIES if name in sys.modules]
    import unsloth  # noqa: F401

    if early:
        log(
            f"unsloth was imported after {', '.join(early)} in this process: some of its speed-ups may be "
            "missing (a fresh worker process, or one that trains only Unsloth runs, gets them all)"
        )


def load_base(base: str, *, settings: Any) -> tuple[Any, Any]:
    """The tokenizer and the LoRA-wrapped model of `base` (a local folder, so nothing is downloaded), with
    the run's max_length, 4 bits for QLoRA, and its LoRA rank, alpha, dropout and target modules."""
    from unsloth import FastLanguageModel

    model, tokenizer = FastLanguageModel.from_pretrained(
        model_name=base,
        max_seq_length=settings.max_length,
        dtype=None,  # Unsloth picks bf16 where the GPU has it (as `trainer.common_config` trains), else fp16
        load_in_4bit=settings.method == "qlora",
    )
    if not tokenizer.chat_template:
        raise TrainingError(f"The tokenizer of {base} has no chat template: choose an instruct/chat base model.")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = FastLanguageModel.get_peft_model(
        model,
        r=settings.lora_r,
        target_modules=list(settings.target_modules),
        lora_alpha=settings.lora_alpha,
        lora_dropout=settings.lora_dropout,
        bias="none",
        use_gradient_checkpointing="unsloth" if settings.gradient_checkpointing else False,
        random_state=settings.seed,
    )
    return tokenizer, model


def merge_and_save(model: Any, tokenizer: Any, *, adapter_dir: Path, merged_dir: Path) -> None:
    """The adapter in `adapter_dir`, and the model with it merged in 16 bits (dequantized for QLoRA) as a
    plain checkpoint in `merged_dir`, as the TRL backend writes them."""
    model.save_pretrained(adapter_dir)
    tokenizer.save_pretrained(adapter_dir)
    model.save_pretrained_merged(str(merged_dir), tokenizer, save_method="merged_16bit")
