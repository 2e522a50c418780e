"""Fine-tune runs: create (validated), execute (claim → train → merge → GGUF → Modelfile → register), fail,
and retrain on schedule (a run like the last one, when the newest export has enough new examples).

The training itself lives in `training.finetune` (the optional `[train]` extra) and is imported only when a
run executes; creating a run checks that the extra is installed, so the command, the API and the admin say
what to install before anything is stored.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import OperationalError, transaction
from django.utils import timezone

from ready4hire.errors import DomainError, InvalidInput

from ..finetune.deps import missing_train_packages, train_extra_message
from ..finetune.errors import FineTuneError
from ..models import DatasetExport, FineTuneRun, JobStatus, ModelVersion
from ..selectors.exports import dataset_export_file_path
from ..selectors.finetune import finetune_run_get
from .jobs import job_claim
from .versions import model_version_register

logger = logging.getLogger(__name__)

Method = FineTuneRun.Method
LOG_LIMIT = 50_000  # characters of log kept on the row; the full log is train.log in the output directory
TRAIN_PROGRESS_SHARE = 90  # percent of the bar the training steps fill; merging and GGUF take the rest

# Defaults by method. A random-initialised tiny model needs a far higher learning rate than a pretrained
# one, and LoRA a higher one than full fine-tuning.
DEFAULT_LEARNING_RATES = {"tiny": 3e-3, Method.FULL: 2e-5, Method.LORA: 2e-4, Method.QLORA: 2e-4}
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


def _retrying_when_locked(write: Callable[[], Any]) -> Any:
    """Run a write, retrying while SQLite reports its lock. The command follows a run by reading its row from
    another thread while the training thread writes it; SQLite takes one writer at a time, and its shared
    in-memory test database reports a lock at once instead of waiting. Other databases never get here."""
    for attempt in range(1, 41):
        try:
            return write()
        except OperationalError as exc:
            if "locked" not in str(exc) or attempt == 40:
                raise
            time.sleep(0.05)


class TrainExtraMissing(InvalidInput):
    code = "train_extra_missing"


def _require_train_extra() -> None:
    missing = missing_train_packages()
    if missing:
        raise TrainExtraMissing(train_extra_message(missing))


def _base_model_check(base_model: str) -> str:
    """A local checkpoint directory, or a Hugging Face id already in the local cache (never downloaded)."""
    base_model = base_model.strip()
    if not base_model:
        raise InvalidInput(
            "Give a base model (a local directory or a cached Hugging Face id), or init_tiny.", field="base_model"
        )
    path = Path(base_model).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise InvalidInput(f"{path} has no config.json: not a Hugging Face model directory.", field="base_model")
        return str(path.resolve())
    if path.exists() or base_model.startswith((".", "/", "~")):
        raise InvalidInput(f"Base model directory {base_model} does not exist.", field="base_model")
    from huggingface_hub import try_to_load_from_cache

    if not isinstance(try_to_load_from_cache(base_model, "config.json"), str):
        raise InvalidInput(
            f"{base_model!r} is neither a local directory nor a Hugging Face model in the local cache; runs never "
            f"download. Fetch it first (huggingface-cli download {base_model}) or give a directory.",
            field="base_model",
        )
    return base_model


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


def finetune_run_create(
    *,
    dataset_export_id: int,
    base_model: str = "",
    init_tiny: bool = False,
    method: str | None = None,
    hyperparameters: dict[str, Any] | None = None,
    output_dir: str = "",
    requested_by: Any = None,
    requested_by_key: Any = None,
    enqueue: bool = False,
) -> FineTuneRun:
    """Check everything a run needs and store it as pending; with `enqueue`, queue it on the training queue
    after commit. Nothing is downloaded or trained here.

    The method defaults to full fine-tuning for a tiny base (LoRA on random weights proves only the
    plumbing) and to LoRA otherwise.
    """
    _require_train_extra()
    export = DatasetExport.objects.filter(pk=dataset_export_id).first()
    if export is None:
        raise InvalidInput(f"Dataset export {dataset_export_id} does not exist.", field="dataset_export_id")
    if export.status != JobStatus.DONE:
        raise InvalidInput(f"Dataset export {export.pk} is {export.status}, not done.", field="dataset_export_id")
    if not export.train_count:
        raise InvalidInput(f"Dataset export {export.pk} has no training examples.", field="dataset_export_id")
    dataset_export_file_path(export=export, file="train")  # NotFound when the file is gone
    if init_tiny and base_model.strip():
        raise InvalidInput("Give either a base model or init_tiny, not both.", field="base_model")
    method = method or (Method.FULL if init_tiny else Method.LORA)
    if method not in Method.values:
        raise InvalidInput(f"method must be one of {', '.join(Method.values)}.", field="method")
    if method == Method.QLORA:
        from ..finetune.trainer import qlora_unavailable_reason

        reason = qlora_unavailable_reason()
        if reason:
            raise InvalidInput(reason, field="method")
    base = "" if init_tiny else _base_model_check(base_model)
    checked = _hyperparameters(hyperparameters or {}, method=method, init_tiny=init_tiny)
    with transaction.atomic():
        run = FineTuneRun.objects.create(
            dataset_export=export,
            base_model=base or "tiny (random-initialised)",
            init_tiny=init_tiny,
            method=method,
            backend=FineTuneRun.Backend.TRL,
            hyperparameters=checked,
            output_dir=output_dir.strip(),
            requested_by=requested_by,
            requested_by_key=requested_by_key,
        )
        if enqueue:
            from ..tasks.finetune import finetune_run_task

            finetune_run_task.delay_on_commit(run.pk)
    return run


def _claim(run_id: int, celery_task_id: str) -> FineTuneRun | None:
    """Move a pending run (or one abandoned by a dead worker past the task's time limit) to running."""
    claimed = _retrying_when_locked(
        lambda: job_claim(
            FineTuneRun.objects.filter(pk=run_id),
            stale_after=timedelta(seconds=settings.FINETUNE_TASK_TIME_LIMIT),
            finished_at=None,
            progress=0,
            error="",
            celery_task_id=celery_task_id,
        )
    )
    return finetune_run_get(run_id=run_id) if claimed else None


def _output_dir(run: FineTuneRun) -> Path:
    if run.output_dir:
        return Path(run.output_dir)
    root = settings.FINETUNE_OUTPUT_ROOT or Path(settings.MEDIA_ROOT) / "finetune"
    return Path(root) / f"run-{run.pk}"


class _RunLog:
    """Each line goes to train.log at once, and to the row's log with the next progress write."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lines: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, message: str) -> None:
        line = f"{timezone.now():%Y-%m-%d %H:%M:%S} {message}"
        with self._lock:
            self.lines.append(line)
            with self.path.open("a", encoding="utf-8") as file:
                file.write(line + "\n")

    def text(self) -> str:
        with self._lock:
            return "\n".join(self.lines)[-LOG_LIMIT:]


def _progress_writer(run_id: int, log: _RunLog) -> Callable[[Any], None]:
    def report(progress: Any) -> None:
        share = progress.step / progress.max_steps if progress.max_steps else 0.0
        _retrying_when_locked(
            lambda: FineTuneRun.objects.filter(pk=run_id, status=JobStatus.RUNNING).update(
                step=progress.step,
                max_steps=progress.max_steps,
                epoch=progress.epoch,
                loss=progress.loss if progress.loss is None or math.isfinite(progress.loss) else None,
                progress=min(TRAIN_PROGRESS_SHARE, math.floor(share * TRAIN_PROGRESS_SHARE)),
                metrics={"train_loss": progress.train_loss, "eval_loss": progress.eval_loss},
                log=log.text(),
            )
        )

    return report


def _train_settings(run: FineTuneRun) -> Any:
    from ..finetune.trainer import TrainSettings

    values = run.hyperparameters
    return TrainSettings(
        method=run.method,
        max_steps=values["max_steps"],
        epochs=values["epochs"],
        learning_rate=values["learning_rate"],
        batch_size=values["batch_size"],
        grad_accum=values["grad_accum"],
        lora_r=values["lora_r"],
        lora_alpha=values["lora_alpha"],
        lora_dropout=values["lora_dropout"],
        target_modules=tuple(values["target_modules"]),
        max_length=values["max_length"],
        seed=values["seed"],
        gradient_checkpointing=values["gradient_checkpointing"],
        evaluations=settings.FINETUNE_EVALUATIONS,
        eval_max_examples=settings.FINETUNE_EVAL_MAX_EXAMPLES,
    )


def finetune_run_execute(*, run_id: int, celery_task_id: str = "") -> FineTuneRun:
    """Train a pending run and register what it produced. Safe to call twice: a run that is done, failed or
    running elsewhere is returned as it is. A failure is recorded on the row (error, log) and re-raised
    unless it is a domain error (bad input the run cannot get past)."""
    run = _claim(run_id, celery_task_id)
    if run is None:
        return finetune_run_get(run_id=run_id)
    out = _output_dir(run)
    out.mkdir(parents=True, exist_ok=True)
    if not run.output_dir:
        run.output_dir = str(out)
        _retrying_when_locked(lambda: FineTuneRun.objects.filter(pk=run.pk).update(output_dir=run.output_dir))
    log = _RunLog(out / "train.log")
    try:
        _require_train_extra()
        from ..finetune.pipeline import FineTuneJob, run_finetune
        from ..finetune.tiny import TinyShape

        export = run.dataset_export
        has_val = bool(export.val_count) and "val" in export.files
        job = FineTuneJob(
            train_path=dataset_export_file_path(export=export, file="train"),
            val_path=dataset_export_file_path(export=export, file="val") if has_val else None,
            fmt=export.format,
            output_dir=out,
            base_model=run.base_model,
            init_tiny=run.init_tiny,
            tiny_shape=TinyShape(vocab_size=settings.FINETUNE_TINY_VOCAB_SIZE),
            gguf_dtype=settings.FINETUNE_GGUF_DTYPE,
            llama_cpp_dir=settings.LLAMA_CPP_DIR,
            temperature=settings.LLM_TEMPERATURE,
        )
        log(f"fine-tune run {run.pk}: {run.method} on {export} from {run.base_model}; output in {out}")
        started = time.perf_counter()
        result = run_finetune(job, _train_settings(run), report=_progress_writer(run.pk, log), log=log)
        log(f"trained and converted in {time.perf_counter() - started:.1f} s")
        return _finish(run, result.outputs, result.metrics, log)
    except Exception as exc:
        # Bad input or configuration is the run's outcome, recorded; anything else is a crash, re-raised too.
        expected = isinstance(exc, DomainError | FineTuneError)
        if not expected:
            logger.exception("fine-tune run %s failed", run_id)
        log(f"failed: {type(exc).__name__}: {exc}")
        finetune_run_fail(run_id=run_id, error=f"{type(exc).__name__}: {exc}", log=log.text())
        if expected:
            return finetune_run_get(run_id=run_id)
        raise


def _finish(run: FineTuneRun, outputs: dict[str, str], metrics: dict[str, Any], log: _RunLog) -> FineTuneRun:
    return _retrying_when_locked(lambda: _register(run, dict(outputs), metrics, log))


def _register(run: FineTuneRun, outputs: dict[str, str], metrics: dict[str, Any], log: _RunLog) -> FineTuneRun:
    """Register the base (tiny runs) and the fine-tuned version, and mark the run done, in one transaction."""
    export = run.dataset_export
    with transaction.atomic():
        if "base_gguf" in outputs:
            base_version = model_version_register(
                name=settings.FINETUNE_TINY_BASE_NAME,
                kind=ModelVersion.Kind.BASE,
                base_model="tiny (random-initialised)",
                run=run,
                dataset_export=export,
                gguf_path=outputs["base_gguf"],
            )
            outputs["base_version"] = base_version.reference
        version = model_version_register(
            name=settings.FINETUNE_MODEL_NAME,
            base_model=run.base_model,
            run=run,
            dataset_export=export,
            gguf_path=outputs["gguf"],
        )
        outputs["version"] = version.reference
        log(f"registered {', '.join(outputs[key] for key in ('base_version', 'version') if key in outputs)}")
        run.outputs = outputs
        run.metrics = metrics
        run.status = JobStatus.DONE
        run.progress = 100
        run.step = metrics.get("steps", run.step)
        run.max_steps = max(run.max_steps, run.step)
        run.epoch = metrics.get("epochs", run.epoch)
        run.error = ""
        run.finished_at = timezone.now()
        run.log = log.text()
        run.save(
            update_fields=[
                "outputs",
                "metrics",
                "status",
                "progress",
                "step",
                "max_steps",
                "epoch",
                "error",
                "finished_at",
                "log",
            ]
        )
    return run


def finetune_run_fail(*, run_id: int, error: str, log: str | None = None) -> None:
    """Record a final failure, so the row never stays 'running' for ever."""
    fields: dict[str, Any] = {"status": JobStatus.FAILED, "error": error[:5000], "finished_at": timezone.now()}
    if log is not None:
        fields["log"] = log[-LOG_LIMIT:]
    _retrying_when_locked(lambda: FineTuneRun.objects.filter(pk=run_id).exclude(status=JobStatus.DONE).update(**fields))


# --- retraining on schedule ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class FinetuneDue:
    """Whether a scheduled retraining should start now, and why (or why not)."""

    due: bool
    reason: str
    export: DatasetExport | None = None
    last_run: FineTuneRun | None = None
    run: FineTuneRun | None = None  # the run started, by finetune_retrain_if_due


def _example_count(export: DatasetExport) -> int:
    return export.train_count + export.val_count


def finetune_due_check(*, min_new_examples: int) -> FinetuneDue:
    """Due when the newest finished export holds at least `min_new_examples` more examples than the export
    of the last fine-tune run (the original's "re-train every 500–1000 evaluations").

    Never due while a run is pending or running, nor before a first run: a retraining repeats the last
    run's configuration on the new data, and the first configuration is a person's choice. The last run
    counts even when it failed, so a failing configuration is not retried on the same data every day.
    """
    export = DatasetExport.objects.filter(status=JobStatus.DONE).order_by("-created_at", "-pk").first()
    if export is None:
        return FinetuneDue(False, "no finished dataset export yet")
    if FineTuneRun.objects.filter(status__in=[JobStatus.PENDING, JobStatus.RUNNING]).exists():
        return FinetuneDue(False, "a fine-tune run is already pending or running", export=export)
    last_run = FineTuneRun.objects.select_related("dataset_export").order_by("-created_at", "-pk").first()
    if last_run is None:
        return FinetuneDue(False, "no earlier fine-tune run to repeat: start the first one by hand", export=export)
    if last_run.dataset_export_id == export.pk:
        return FinetuneDue(False, f"the last run already trained on export {export}", export, last_run)
    new = _example_count(export) - _example_count(last_run.dataset_export)
    if new < min_new_examples:
        return FinetuneDue(
            False,
            f"export {export} has {new} more examples than the last run's; {min_new_examples} needed",
            export,
            last_run,
        )
    return FinetuneDue(True, f"export {export} has {new} more examples than the last run's", export, last_run)


def finetune_retrain_if_due(*, min_new_examples: int) -> FinetuneDue:
    """When `finetune_due_check` says so, start a run like the last one (base, method, hyper-parameters) on
    the newest export, queued on the training queue once committed."""
    due = finetune_due_check(min_new_examples=min_new_examples)
    if not due.due:
        return due
    last = due.last_run
    run = finetune_run_create(
        dataset_export_id=due.export.pk,
        base_model="" if last.init_tiny else last.base_model,
        init_tiny=last.init_tiny,
        method=last.method,
        hyperparameters=last.hyperparameters,
        enqueue=True,
    )
    return replace(due, run=run, reason=f"{due.reason}: started fine-tune run #{run.pk}")
