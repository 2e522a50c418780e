"""Preference tuning (DPO) with TRL's DPOTrainer on the pairs of a `preference` export.

Each pair is the grading prompt through the base tokenizer's chat template (with the generation prompt), the
reviewer's grade (chosen) and the machine's original grade (rejected), each answer ending with EOS as in
supervised training. The policy is a LoRA adapter on the base (an SFT run's merged model or any base): with
an adapter, TRL uses the base without it as the reference model, so no second copy is loaded.
Imports torch, transformers, peft and trl: load it only with the `[train]` extra.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from trl import DPOConfig, DPOTrainer

from .data import PreferencePair
from .trainer import (
    ProgressCallback,
    TrainingProgress,
    TrainOutcome,
    TrainSettings,
    common_config,
    load_base,
    peft_config,
    run_trainer,
    split_records,
)


def preference_records(
    tokenizer: Any, pairs: list[PreferencePair], *, max_length: int
) -> tuple[list[dict[str, str]], int]:
    """Prompt / chosen / rejected strings whose longer side fits `max_length` tokens, and how many did not
    (left out, never cut: a cut answer would teach an unfinished JSON)."""
    records = [
        {
            "prompt": tokenizer.apply_chat_template(pair.prompt, tokenize=False, add_generation_prompt=True),
            "chosen": pair.chosen + tokenizer.eos_token,
            "rejected": pair.rejected + tokenizer.eos_token,
        }
        for pair in pairs
    ]
    if not records:
        return [], 0

    def length(texts: list[str]) -> list[int]:
        return [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]

    prompts = length([r["prompt"] for r in records])
    longest = [
        max(chosen, rejected)
        for chosen, rejected in zip(
            length([r["chosen"] for r in records]), length([r["rejected"] for r in records]), strict=True
        )
    ]
    kept = [r for r, p, a in zip(records, prompts, longest, strict=True) if p + a <= max_length]
    return kept, len(records) - len(kept)


def _dpo_config(settings: TrainSettings, output_dir: Path, *, train_size: int, has_eval: bool) -> DPOConfig:
    common = common_config(settings, output_dir, train_size=train_size, has_eval=has_eval)
    names = {option.name for option in dataclasses.fields(DPOConfig)}
    return DPOConfig(**{key: value for key, value in common.items() if key in names})


def train_dpo(
    *,
    base: str,
    train_pairs: list[PreferencePair],
    val_pairs: list[PreferencePair],
    settings: TrainSettings,
    work_dir: Path,
    report: Callable[[TrainingProgress], None],
    log: Callable[[str], None],
) -> TrainOutcome:
    """DPO on `base` with a LoRA adapter; returns the trained PEFT model (merged by `merge_and_save`)."""
    from datasets import Dataset

    tokenizer, model = load_base(base, method="lora")
    train_records, val_records, dropped = split_records(
        preference_records, tokenizer, train_pairs, val_pairs, settings=settings, log=log, kind="preference pairs"
    )
    log(f"{len(train_records)} training and {len(val_records)} validation preference pairs, method dpo")
    callback = ProgressCallback(report, log)
    trainer = DPOTrainer(
        model=model,
        args=_dpo_config(settings, work_dir, train_size=len(train_records), has_eval=bool(val_records)),
        train_dataset=Dataset.from_list(train_records),
        eval_dataset=Dataset.from_list(val_records) if val_records and settings.evaluations else None,
        processing_class=tokenizer,
        peft_config=peft_config(dataclasses.replace(settings, method="lora")),
        callbacks=[callback],
    )
    examples = {"train": len(train_records), "val": len(val_records), "too_long": dropped}
    return run_trainer(trainer, callback, tokenizer=tokenizer, examples=examples)
