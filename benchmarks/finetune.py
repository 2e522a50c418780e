"""Fine-tuning throughput: training tokens per second of the tiny --init-tiny run.

    .venv/bin/python benchmarks/finetune.py [--steps 200] [--batch-size 1] [--vocab-size 4096] [--seed 42]

Builds the synthetic grading dataset (the question bank's reference answers cut in various ways, labelled
by the heuristic grader), then runs the same pipeline as `manage.py finetune --init-tiny` — tokenizer and
tiny Llama built from the data, full fine-tuning with TRL's SFTTrainer, merge, GGUF — in a temporary
directory. Tokens per second counts the non-padding tokens the trainer processed (prompt and completion:
the attention mask's sum, as TRL reports it) over the training time alone, without the set-up, the
validation passes or the GGUF conversion. Needs the [train] extra. The last line is
`RESULT finetune tokens_per_s=… device=…`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--vocab-size", type=int, default=4096)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ready4hire.settings")
    import django

    django.setup()
    from training.finetune.deps import missing_train_packages, train_extra_message

    missing = missing_train_packages()
    if missing:
        sys.exit(train_extra_message(missing))
    from training.finetune.pipeline import FineTuneJob, run_finetune
    from training.finetune.synthetic import synthetic_examples
    from training.finetune.tiny import TinyShape
    from training.finetune.trainer import TrainSettings, device_kind
    from training.formats import format_example

    examples = synthetic_examples(seed=args.seed, subsets=8)
    with tempfile.TemporaryDirectory(prefix="r4h-bench-finetune-") as scratch:
        work = Path(scratch)
        train = work / "train.jsonl"
        train.write_text(
            "".join(
                json.dumps(format_example("messages", request=request, label=label), ensure_ascii=False) + "\n"
                for request, label in examples
            ),
            encoding="utf-8",
        )
        job = FineTuneJob(
            train_path=train,
            val_path=None,
            fmt="messages",
            output_dir=work / "run",
            init_tiny=True,
            tiny_shape=TinyShape(vocab_size=args.vocab_size),
        )
        settings = TrainSettings(
            method="full",
            max_steps=args.steps,
            learning_rate=3e-3,
            batch_size=args.batch_size,
            seed=args.seed,
            evaluations=0,
        )
        started = time.perf_counter()
        result = run_finetune(job, settings, report=lambda progress: None, log=lambda line: None)
        total = time.perf_counter() - started
    metrics = result.metrics
    device = device_kind()
    print(
        f"examples={metrics['examples']['train']} parameters={metrics['parameters']['total']} "
        f"vocab={args.vocab_size} batch={args.batch_size} steps={metrics['steps']} device={device}"
    )
    print(
        f"train_s={metrics['train_seconds']} tokens={metrics['train_tokens']} "
        f"last_logged_loss={metrics['final_train_loss']:.3f} whole_run_s={total:.1f} (with tokenizer, saving, GGUF)"
    )
    print(f"RESULT finetune tokens_per_s={metrics['tokens_per_second']:.0f} device={device}")


if __name__ == "__main__":
    main()
