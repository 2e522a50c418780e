"""Fine-tuning throughput and memory, per method: training tokens per second and peak memory.

    .venv/bin/python benchmarks/finetune.py [--methods lora,full,dpo,qlora] [--steps 30] [--batch-size 2]
        [--base DIR|ORG/NAME[@REV]] [--vocab-size 4096] [--baseline] [--seed 42]

Builds the synthetic grading dataset (the question bank's reference answers cut in various ways, labelled by
the heuristic grader; for DPO each grade is paired with a shifted one as the rejected side), then trains each
method with the project's trainer (`training/finetune/trainer.py`, `dpo.py`: TRL + PEFT) for `--steps` steps
on the base: by default the tiny random-initialised Llama that `finetune --init-tiny` builds, else a model
folder or a Hugging Face hub id (resolved into the HF cache as `finetune --base` does). Each method runs in a
process of its own, so a CPU's peak RSS is that method's alone.

Tokens per second and peak memory are measured as a run records them (`training/finetune/runstats.py`): the
non-padding tokens the trainer processed (the attention mask's sum, as TRL counts it) over the training loop
alone (no set-up, merge or GGUF); peak memory is the GPU allocator's peak on a GPU, the process's peak RSS on
a CPU. qlora needs a CUDA GPU and bitsandbytes: elsewhere it prints a `SKIP` line with the reason.

On a GPU (or with --baseline) each method that plain TRL + PEFT can run the same way (lora, full) is also
trained by a bare `SFTTrainer` on the same records, and the line carries the ratio of ours to it (our
progress callback and settings against the library's defaults). Lines:

    RESULT finetune method=lora tokens_per_s=… peak_mb=… device=cpu precision=fp32 [plain_trl_tokens_per_s=…
        ratio=…]
    SKIP finetune method=qlora reason=…

Needs the [train] extra. The default (tiny base, three methods, 15 steps) takes about two minutes on 2 CPU
cores.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# As the pipeline sets it for a run (training/finetune/pipeline.py): torch's threads sleep while they wait
# instead of spinning, which on a few shared cores is several times faster. Read when torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
METHODS = ("lora", "full", "dpo", "qlora")
PLAIN_TRL = ("lora", "full")  # what a bare SFTTrainer trains the same way (DPO has its own trainer)
LEARNING_RATES = {"full": 2e-5, "lora": 2e-4, "qlora": 2e-4, "dpo": 5e-5}


def _setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ready4hire.settings")
    import django

    django.setup()
    from training.finetune.deps import missing_train_packages, train_extra_message

    missing = missing_train_packages()
    if missing:
        sys.exit(train_extra_message(missing))


def _dataset(seed: int) -> tuple[list, list]:
    """The synthetic examples as conversations, and as preference pairs (chosen: the grade; rejected: the
    score moved to the other end of the scale)."""
    from training.finetune.data import PreferencePair, to_messages
    from training.finetune.synthetic import synthetic_examples
    from training.formats import format_example, label_json

    conversations, pairs = [], []
    for request, label in synthetic_examples(seed=seed, subsets=2):
        messages = to_messages("messages", format_example("messages", request=request, label=label))
        conversations.append(messages)
        rejected = {**label, "score": round(10 - float(label["score"]), 1)}
        pairs.append(
            PreferencePair(prompt=messages[:-1], chosen=messages[-1]["content"], rejected=label_json(rejected))
        )
    return conversations, pairs


def _base(args: argparse.Namespace, conversations: list, work: Path) -> str:
    if args.base:
        from training.finetune.hub import hub_snapshot, parse_hub_id

        hub_id = parse_hub_id(args.base)
        return str(hub_snapshot(hub_id)) if hub_id else args.base
    from training.finetune.tiny import TinyShape, create_tiny_base

    texts = [message["content"] for conversation in conversations for message in conversation]
    return str(create_tiny_base(texts, work / "base", shape=TinyShape(vocab_size=args.vocab_size), seed=args.seed))


def _settings(args: argparse.Namespace, method: str) -> Any:
    from training.finetune.trainer import TrainSettings

    return TrainSettings(
        method=method,
        max_steps=args.steps,
        learning_rate=3e-3 if not args.base and method == "full" else LEARNING_RATES[method],
        batch_size=args.batch_size,
        max_length=args.max_length,
        seed=args.seed,
        evaluations=0,
    )


def _plain_trl(base: str, conversations: list, settings: Any, work: Path) -> float | None:
    """Tokens per second of a bare TRL SFTTrainer (+ PEFT LoRA) on the same records and schedule."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer, PrinterCallback
    from trl import SFTConfig, SFTTrainer

    from training.finetune import runstats
    from training.finetune.trainer import build_records

    tokenizer = AutoTokenizer.from_pretrained(base, local_files_only=True)
    records, _ = build_records(tokenizer, conversations, max_length=settings.max_length)
    on_gpu = torch.cuda.is_available()
    bf16 = on_gpu and torch.cuda.is_bf16_supported()
    dtype = torch.bfloat16 if bf16 else torch.float16 if on_gpu else torch.float32
    model = AutoModelForCausalLM.from_pretrained(base, local_files_only=True, dtype=dtype)
    trainer = SFTTrainer(
        model=model,
        args=SFTConfig(
            output_dir=str(work / "plain"),
            max_steps=settings.max_steps,
            learning_rate=settings.learning_rate,
            per_device_train_batch_size=settings.batch_size,
            max_length=settings.max_length,
            bf16=bf16,
            use_cpu=not on_gpu,
            seed=settings.seed,
            save_strategy="no",
            report_to=[],
            disable_tqdm=True,
        ),
        train_dataset=Dataset.from_list(records),
        processing_class=tokenizer,
        peft_config=LoraConfig(r=settings.lora_r, lora_alpha=settings.lora_alpha, target_modules=["q_proj", "v_proj"])
        if settings.method == "lora"
        else None,
    )
    trainer.remove_callback(PrinterCallback)
    started = time.perf_counter()
    trainer.train()
    return runstats.tokens_per_second(int(trainer._total_train_tokens), time.perf_counter() - started)


def run_one(args: argparse.Namespace) -> None:
    """One method in this process: prints its RESULT (or SKIP) line."""
    _setup()
    import torch

    from training.finetune.trainer import qlora_unavailable_reason, quiet_progress_bars, train

    method = args.one
    if method == "qlora" and qlora_unavailable_reason():
        print(f"SKIP finetune method=qlora reason={qlora_unavailable_reason()!r}", flush=True)
        return
    quiet_progress_bars()
    conversations, pairs = _dataset(args.seed)
    with tempfile.TemporaryDirectory(prefix="r4h-bench-finetune-") as scratch:
        work = Path(scratch)
        base = _base(args, conversations, work)
        settings = _settings(args, method)
        quiet = {"report": lambda progress: None, "log": lambda line: None}
        if method == "dpo":
            from training.finetune.dpo import train_dpo

            outcome = train_dpo(
                base=base, train_pairs=pairs, val_pairs=[], settings=settings, work_dir=work / "run", **quiet
            )
        else:
            outcome = train(
                base=base,
                train_conversations=conversations,
                val_conversations=[],
                settings=settings,
                work_dir=work / "run",
                **quiet,
            )
        metrics = outcome.metrics
        line = (
            f"RESULT finetune method={method} tokens_per_s={metrics['tokens_per_second']:.0f} "
            f"peak_mb={metrics['peak_memory_mb']:.0f} device={metrics['device']} precision={metrics['precision']}"
        )
        if method in PLAIN_TRL and (args.baseline or torch.cuda.is_available()):
            del outcome
            plain = _plain_trl(base, conversations, settings, work)
            if plain:
                line += f" plain_trl_tokens_per_s={plain:.0f} ratio={metrics['tokens_per_second'] / plain:.2f}"
    print(
        f"# {method}: steps={metrics['steps']} batch={args.batch_size} tokens={metrics['train_tokens']} "
        f"train_s={metrics['train_seconds']} parameters={json.dumps(metrics['parameters'])} "
        f"peak={metrics['peak_memory_measure']} gpu={metrics['gpu_name'] or '-'}",
        flush=True,
    )
    print(line, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", default="lora,full,dpo,qlora", help="Comma-separated, of " + ", ".join(METHODS))
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--max-length", type=int, default=4096)
    parser.add_argument("--base", default="", help="A model folder or a hub id (default: the tiny model).")
    parser.add_argument("--vocab-size", type=int, default=4096, help="The tiny model's vocabulary.")
    parser.add_argument("--baseline", action="store_true", help="Also time plain TRL + PEFT off a GPU.")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--one", choices=METHODS, help=argparse.SUPPRESS)  # a child process: one method
    args = parser.parse_args()
    if args.one:
        run_one(args)
        return
    methods = [method.strip() for method in args.methods.split(",") if method.strip()]
    unknown = set(methods) - set(METHODS)
    if unknown:
        parser.error(f"unknown methods: {', '.join(sorted(unknown))}")
    started = time.perf_counter()
    for method in methods:
        child = [sys.executable, __file__, *_without_methods(sys.argv[1:]), "--one", method]
        if subprocess.run(child, check=False).returncode:
            sys.exit(f"{method} failed")
    print(f"# whole benchmark: {time.perf_counter() - started:.0f} s")


def _without_methods(argv: list[str]) -> list[str]:
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--methods":
            skip = True
        elif not arg.startswith("--methods="):
            kept.append(arg)
    return kept


if __name__ == "__main__":
    main()
