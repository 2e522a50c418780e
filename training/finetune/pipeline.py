"""One fine-tune run from files to files: (tiny base) → train → merge → GGUF → Modelfile. No ORM.

The service (`training.services.finetune`) owns the database row; this module gets plain paths and
settings, reports progress through callbacks, and returns what it wrote. In a run of several processes
(`accelerate launch`, see `processes`) only the main one writes files; the others train and return no
outputs. The base is a local folder (a hub base is fetched into the HF cache before the run is stored, see
`hub`), loaded with local_files_only: nothing is downloaded while a run trains. Output layout in `output_dir`:

    base/            --init-tiny: the random-initialised starting point (safetensors + tokenizer)
    base.gguf        --init-tiny: the same, for llama.cpp, with base.Modelfile beside it
    adapter/         lora / qlora / dpo: the PEFT adapter
    merged/          the fine-tuned model as a plain checkpoint (safetensors + tokenizer)
    model.gguf       the fine-tuned model for llama.cpp, with Modelfile beside it
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from training.modelfile import ModelfileSpec, render

from .data import Conversation, read_conversations, read_preferences
from .errors import DatasetFileError, TrainingError
from .processes import is_main_process, share_from_main
from .tiny import CHATML_STOPS, CHATML_TEMPLATE, OLLAMA_CHATML_TEMPLATE, TinyShape

# torch's OpenMP threads sleep instead of spinning while they wait (read when torch loads, which it has not
# yet where the demo, the command or a worker import this module). Measured on 2 shared cores with other
# work running: a tiny-model step took 3.9 s spinning and 1.2 s sleeping, with the same result.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


@dataclass(frozen=True)
class FineTuneJob:
    train_path: Path
    val_path: Path | None
    fmt: str
    output_dir: Path
    base_model: str = ""  # a local directory (a hub base's snapshot folder); ignored with init_tiny
    init_tiny: bool = False
    tiny_shape: TinyShape = field(default_factory=TinyShape)
    gguf_dtype: str = "f16"
    llama_cpp_dir: str = ""
    temperature: float = 0.1


@dataclass
class FineTuneResult:
    outputs: dict[str, str]
    metrics: dict[str, Any]


def _modelfile(gguf_path: Path, *, chat_template: str, system: str, num_ctx: int, temperature: float) -> Path:
    """A Modelfile beside the GGUF file: FROM it (relative, so the pair can be moved together), the grading
    instructions as SYSTEM, and for ChatML models the template and stop words Ollama needs."""
    chatml = chat_template.strip() == CHATML_TEMPLATE
    spec = ModelfileSpec(
        from_=f"./{gguf_path.name}",
        parameters=[
            ("temperature", temperature),
            ("num_ctx", num_ctx),
            *([("stop", stop) for stop in CHATML_STOPS] if chatml else []),
        ],
        template=OLLAMA_CHATML_TEMPLATE if chatml else None,
        system=system or None,
    )
    path = gguf_path.with_suffix(".Modelfile") if gguf_path.stem != "model" else gguf_path.parent / "Modelfile"
    path.write_text(render(spec), encoding="utf-8")
    return path


def _chat_template(checkpoint: Path) -> str:
    jinja = checkpoint / "chat_template.jinja"
    if jinja.is_file():
        return jinja.read_text(encoding="utf-8")
    import json

    return str(json.loads((checkpoint / "tokenizer_config.json").read_text(encoding="utf-8")).get("chat_template", ""))


def _system_prompt(conversations: list[Conversation]) -> str:
    return next((m["content"] for m in conversations[0] if m["role"] == "system"), "") if conversations else ""


def _tiny_base(
    job: FineTuneJob,
    settings: Any,
    conversations: list[Conversation],
    system: str,
    outputs: dict[str, str],
    to_gguf: Callable[[Path, str], Path],
    log: Callable[[str], None],
) -> str:
    """Build the tiny random-initialised base (tokenizer trained on the export) and its GGUF and Modelfile."""
    from .tiny import create_tiny_base

    texts = [message["content"] for conversation in conversations for message in conversation]
    if settings.method == "dpo":  # the rejected grades too, so the tokenizer knows both sides of a pair
        texts += [pair.rejected for pair in read_preferences(job.train_path)]
    base_dir = create_tiny_base(texts, job.output_dir / "base", shape=job.tiny_shape, seed=settings.seed)
    log(f"built a tiny random-initialised base in {base_dir}")
    base_gguf = to_gguf(base_dir, "base")
    outputs.update(base_dir=str(base_dir), base_gguf=str(base_gguf))
    outputs["base_modelfile"] = str(
        _modelfile(
            base_gguf,
            chat_template=_chat_template(base_dir),
            system=system,
            num_ctx=job.tiny_shape.context,
            temperature=job.temperature,
        )
    )
    return str(base_dir)


def run_finetune(
    job: FineTuneJob,
    settings: Any,
    *,
    report: Callable[[Any], None],
    log: Callable[[str], None],
) -> FineTuneResult:
    """Run `job` with the trainer `settings` (a `trainer.TrainSettings`); `report` gets `TrainingProgress`."""
    dpo = settings.method == "dpo"
    backend = settings.backend
    if backend == "unsloth":
        from .backends import backend_method_reason
        from .unsloth import import_unsloth

        reason = backend_method_reason(backend, settings.method)  # checked when the run is created, too
        if reason:
            raise TrainingError(reason)
        import_unsloth(log)  # before `trainer` imports transformers, TRL and PEFT, which Unsloth patches
    from .gguf_writer import convert_to_gguf
    from .trainer import merge_and_save, quiet_progress_bars, train

    quiet_progress_bars()
    if dpo and job.fmt != "preference":
        raise DatasetFileError(f"DPO trains on preference pairs; {job.train_path.name} is a {job.fmt} export")
    train_conversations = read_conversations(job.train_path, job.fmt)
    val_conversations = read_conversations(job.val_path, job.fmt) if job.val_path else []
    if not train_conversations:
        raise DatasetFileError(f"{job.train_path.name} has no examples")
    out = job.output_dir
    out.mkdir(parents=True, exist_ok=True)
    outputs: dict[str, str] = {}
    system = _system_prompt(train_conversations)

    def to_gguf(checkpoint: Path, name: str) -> Path:
        log(f"writing {name}.gguf ({job.gguf_dtype})")
        gguf_path = convert_to_gguf(
            checkpoint, out / f"{name}.gguf", dtype=job.gguf_dtype, llama_cpp_dir=job.llama_cpp_dir
        )
        return gguf_path

    main = is_main_process()
    base = job.base_model
    if job.init_tiny:
        # The main process builds the base; the others train from the same files once it has.
        built = None
        try:
            if main:
                built = _tiny_base(job, settings, train_conversations, system, outputs, to_gguf, log)
        finally:
            base = share_from_main(built)
        if base is None:
            raise TrainingError("the main process could not build the tiny base; its log says why")

    if dpo:
        from .dpo import train_dpo

        outcome = train_dpo(
            base=base,
            train_pairs=read_preferences(job.train_path),
            val_pairs=read_preferences(job.val_path) if job.val_path else [],
            settings=settings,
            work_dir=out / "trainer",
            report=report,
            log=log,
        )
    else:
        outcome = train(
            base=base,
            train_conversations=train_conversations,
            val_conversations=val_conversations,
            settings=settings,
            work_dir=out / "trainer",
            report=report,
            log=log,
        )
    outcome.metrics["backend"] = backend
    if not main:
        return FineTuneResult(outputs={}, metrics=outcome.metrics)
    merged_dir = out / "merged"
    log(f"saving the {'merged ' if settings.method != 'full' else ''}model in {merged_dir}")
    merge_and_save(
        outcome, base=base, method=settings.method, adapter_dir=out / "adapter", merged_dir=merged_dir, backend=backend
    )
    if settings.method != "full":
        outputs["adapter"] = str(out / "adapter")
    outputs["merged"] = str(merged_dir)
    gguf_path = to_gguf(merged_dir, "model")
    outputs["gguf"] = str(gguf_path)
    outputs["modelfile"] = str(
        _modelfile(
            gguf_path,
            chat_template=_chat_template(merged_dir),
            system=system,
            num_ctx=settings.max_length,
            temperature=job.temperature,
        )
    )
    return FineTuneResult(outputs=outputs, metrics=outcome.metrics)
