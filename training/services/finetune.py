"""Fine-tune runs: create (validated), execute (claim → train → merge → GGUF → Modelfile → register), fail,
and cancel (retraining on schedule is in `finetune_schedule`, the checks of a run's inputs in
`finetune_inputs`). In a run of several processes (`accelerate launch`) the main one executes; the others
follow (`finetune_run_follow`): they train their share and write nothing.

The training itself lives in `training.finetune` (the optional `[train]` extra) and is imported only when a
run executes; creating a run checks that the extra is installed, so the command, the API and the admin say
what to install before anything is stored.
"""

from __future__ import annotations

import logging
import math
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import OperationalError, transaction
from django.utils import timezone

from ready4hire.errors import DomainError, InvalidInput
from ready4hire.jobs import (
    JobClaim,
    JobKind,
    JobLimits,
    JobLost,
    job_cancel,
    job_claim,
    job_dispatch_on_commit,
    job_fail,
)

from ..finetune.errors import FineTuneError
from ..models import DatasetExport, FineTuneRun, JobStatus, ModelVersion
from ..selectors.exports import dataset_export_file_path
from ..selectors.finetune import finetune_run_get
from .finetune_inputs import (
    _base_model_check,
    _base_run_checkpoint,
    _hyperparameters,
    _require_train_extra,
    base_model_folder,
)
from .versions import model_version_register

logger = logging.getLogger(__name__)

Method = FineTuneRun.Method
LOG_LIMIT = 50_000  # characters of log kept on the row; the full log is train.log in the output directory
TRAIN_PROGRESS_SHARE = 90  # percent of the bar the training steps fill; merging and GGUF take the rest
# What the run trained on and how fast, stored on the row when it ends (device, GPU, precision also at start).
RUN_RECORD_FIELDS = ("device", "gpu_name", "precision", "tokens_per_second", "peak_memory_mb")


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


def finetune_run_create(
    *,
    dataset_export_id: int,
    base_model: str = "",
    init_tiny: bool = False,
    base_run_id: int | None = None,
    method: str | None = None,
    backend: str = FineTuneRun.Backend.TRL,
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
    from ..finetune.backends import backend_method_reason, backend_unavailable_reason

    reason = backend_unavailable_reason(backend)
    if reason:
        raise InvalidInput(reason, field="backend")
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
    if method == Method.DPO and export.format != DatasetExport.Format.PREFERENCE:
        raise InvalidInput(
            f"DPO learns from reviewer corrections (the human's grade preferred over the machine's), and dataset "
            f"export {export.pk} is in the {export.format} format, without them. Export the corrected examples "
            "with --format preference and train on that export.",
            field="method",
        )
    reason = backend_method_reason(backend, method)
    if reason:
        raise InvalidInput(reason, field="method")
    # Unsloth brings bitsandbytes itself; importing the trainer here would load transformers before unsloth.
    if method == Method.QLORA and backend == FineTuneRun.Backend.TRL:
        from ..finetune.trainer import qlora_unavailable_reason

        reason = qlora_unavailable_reason()
        if reason:
            raise InvalidInput(reason, field="method")
    if base_run_id is not None:
        if init_tiny or base_model.strip():
            raise InvalidInput("Give one starting point: a base model, a base run or init_tiny.", field="base_run_id")
        base_model = _base_run_checkpoint(base_run_id)
    base = "" if init_tiny else _base_model_check(base_model)
    checked = _hyperparameters(hyperparameters or {}, method=method, init_tiny=init_tiny)
    with transaction.atomic():
        run = FineTuneRun.objects.create(
            dataset_export=export,
            base_model=base or "tiny (random-initialised)",
            init_tiny=init_tiny,
            method=method,
            backend=backend,
            hyperparameters=checked,
            output_dir=output_dir.strip(),
            requested_by=requested_by,
            requested_by_key=requested_by_key,
        )
        if enqueue:
            job_dispatch_on_commit(FINETUNE_JOB, run.pk)
    return run


def _claim(run_id: int, celery_task_id: str) -> JobClaim | None:
    """Move a pending run (or one whose worker died, with attempts left) to running."""
    return _retrying_when_locked(
        lambda: job_claim(FINETUNE_JOB, run_id, progress=0, error="", celery_task_id=celery_task_id)
    )


def _default_output_dir(run: FineTuneRun) -> Path:
    root = settings.FINETUNE_OUTPUT_ROOT or Path(settings.MEDIA_ROOT) / "finetune"
    return Path(root) / f"run-{run.pk}"


def _output_dir(run: FineTuneRun) -> Path:
    return Path(run.output_dir) if run.output_dir else _default_output_dir(run)


def _partial_output_remove(run: FineTuneRun) -> None:
    """Remove what an unfinished run wrote, so a restart starts clean. Only the run's own folder under the
    output root: a folder a person named may hold other things."""
    if _output_dir(run) == _default_output_dir(run):
        shutil.rmtree(_default_output_dir(run), ignore_errors=True)


FINETUNE_JOB = JobKind(
    name="finetune_run",
    model="training.FineTuneRun",
    task="training.tasks.finetune.finetune_run_task",
    # A run logs a step at least every few minutes, and the heartbeat thread covers merging and conversion.
    limits=lambda: JobLimits(max_runtime=settings.FINETUNE_TASK_TIME_LIMIT, stale_after=600, max_attempts=2),
    cleanup=_partial_output_remove,
)


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


def _runtime_fields(runtime: Any) -> dict[str, Any]:
    """What the run trains on, as the row's fields (from `runstats.DeviceInfo`, known once training starts)."""
    if runtime is None:
        return {}
    return {"device": runtime.device, "gpu_name": runtime.gpu_name, "precision": runtime.precision}


def _progress_writer(claim: JobClaim, log: _RunLog) -> Callable[[Any], None]:
    def report(progress: Any) -> None:
        share = progress.step / progress.max_steps if progress.max_steps else 0.0
        _retrying_when_locked(
            # Also the run's heartbeat, and where a cancellation is noticed: JobLost stops the trainer.
            lambda: claim.progress(
                min(TRAIN_PROGRESS_SHARE, math.floor(share * TRAIN_PROGRESS_SHARE)),
                step=progress.step,
                max_steps=progress.max_steps,
                epoch=progress.epoch,
                loss=progress.loss if progress.loss is None or math.isfinite(progress.loss) else None,
                metrics={"train_loss": progress.train_loss, "eval_loss": progress.eval_loss},
                log=log.text(),
                **_runtime_fields(getattr(progress, "runtime", None)),
            )
        )

    return report


def _also(first: Callable[[Any], None], then: Callable[[Any], None]) -> Callable[[Any], None]:
    def both(progress: Any) -> None:
        first(progress)
        then(progress)

    return both


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
        backend=run.backend,
        evaluations=settings.FINETUNE_EVALUATIONS,
        eval_max_examples=settings.FINETUNE_EVAL_MAX_EXAMPLES,
    )


def finetune_run_execute(
    *, run_id: int, celery_task_id: str = "", on_progress: Callable[[Any], None] | None = None
) -> FineTuneRun:
    """Train a pending run and register what it produced. Safe to call twice: a run that is done, failed or
    running elsewhere is returned as it is. A failure is recorded on the row (error, log) and re-raised
    unless it is a domain error (bad input the run cannot get past). `on_progress` gets the trainer's
    `TrainingProgress` each time the row does (a command's progress bar)."""
    claim = _claim(run_id, celery_task_id)
    if claim is None:
        return finetune_run_get(run_id=run_id)
    with claim:
        return _execute(claim, on_progress)


def _execute(claim: JobClaim, on_progress: Callable[[Any], None] | None = None) -> FineTuneRun:
    run, run_id = claim.row, claim.row.pk
    out = _output_dir(run)
    out.mkdir(parents=True, exist_ok=True)
    if not run.output_dir:
        run.output_dir = str(out)
        _retrying_when_locked(lambda: FineTuneRun.objects.filter(pk=run.pk).update(output_dir=run.output_dir))
    log = _RunLog(out / "train.log")
    try:
        _require_train_extra()
        from ..finetune.pipeline import run_finetune

        job = _job(run, out)
        log(f"fine-tune run {run.pk}: {run.method} on {run.dataset_export} from {run.base_model}; output in {out}")
        if not run.init_tiny and job.base_model != run.base_model:
            log(f"base {run.base_model} from the Hugging Face cache: {job.base_model}")
        started = time.perf_counter()
        report = _progress_writer(claim, log)
        if on_progress is not None:
            report = _also(report, on_progress)
        result = run_finetune(job, _train_settings(run), report=report, log=log)
        log(f"trained and converted in {time.perf_counter() - started:.1f} s")
        return _finish(claim, result.outputs, result.metrics, log)
    except JobLost:
        log("stopped: the run was cancelled")
        _partial_output_remove(run)
        return finetune_run_get(run_id=run_id)
    except Exception as exc:
        # Bad input or configuration is the run's outcome, recorded; anything else is a crash, re-raised too.
        expected = isinstance(exc, DomainError | FineTuneError)
        if not expected:
            logger.exception("fine-tune run %s failed", run_id)
        error = f"{type(exc).__name__}: {exc}"
        log(f"failed: {error}")
        _retrying_when_locked(lambda: claim.fail(error, log=log.text()))
        if expected:
            return finetune_run_get(run_id=run_id)
        raise


def _job(run: FineTuneRun, out: Path) -> Any:
    """The pipeline's plain description of `run` (a hub base resolved to its local snapshot folder)."""
    from ..finetune.pipeline import FineTuneJob
    from ..finetune.tiny import TinyShape

    export = run.dataset_export
    has_val = bool(export.val_count) and "val" in export.files
    return FineTuneJob(
        train_path=dataset_export_file_path(export=export, file="train"),
        val_path=dataset_export_file_path(export=export, file="val") if has_val else None,
        fmt=export.format,
        output_dir=out,
        base_model="" if run.init_tiny else base_model_folder(run.base_model),
        init_tiny=run.init_tiny,
        tiny_shape=TinyShape(vocab_size=settings.FINETUNE_TINY_VOCAB_SIZE),
        gguf_dtype=settings.FINETUNE_GGUF_DTYPE,
        llama_cpp_dir=settings.LLAMA_CPP_DIR,
        temperature=settings.LLM_TEMPERATURE,
    )


def finetune_run_follow(*, run_id: int) -> dict[str, Any]:
    """Train `run_id` as a non-main process of a multi-process run (`accelerate launch ... finetune`): the
    same job as the main process, which alone claims the row and writes progress, files and the version.
    Returns the metrics this process saw."""
    _require_train_extra()
    from ..finetune.pipeline import run_finetune

    run = finetune_run_get(run_id=run_id)
    result = run_finetune(
        _job(run, _output_dir(run)), _train_settings(run), report=lambda progress: None, log=lambda line: None
    )
    return result.metrics


def _finish(claim: JobClaim, outputs: dict[str, str], metrics: dict[str, Any], log: _RunLog) -> FineTuneRun:
    return _retrying_when_locked(lambda: _register(claim, dict(outputs), metrics, log))


def _register(claim: JobClaim, outputs: dict[str, str], metrics: dict[str, Any], log: _RunLog) -> FineTuneRun:
    """Register the base (tiny runs) and the fine-tuned version, and mark the run done, in one transaction
    (none of it when the run was cancelled meanwhile: JobLost)."""
    run = claim.row
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
        run.step = metrics.get("steps", run.step)
        run.max_steps = max(run.max_steps, run.step)
        run.epoch = metrics.get("epochs", run.epoch)
        run.log = log.text()
        run.device = metrics.get("device", run.device)
        run.gpu_name = metrics.get("gpu_name", run.gpu_name)
        run.precision = metrics.get("precision", run.precision)
        run.tokens_per_second = metrics.get("tokens_per_second")
        run.peak_memory_mb = metrics.get("peak_memory_mb")
        claim.done("outputs", "metrics", "step", "max_steps", "epoch", "log", *RUN_RECORD_FIELDS)
    return run


def finetune_run_fail(*, run_id: int, error: str, log: str | None = None) -> None:
    """Record a final failure (a task that gave up), so the row never stays 'running' for ever."""
    _retrying_when_locked(lambda: job_fail(FINETUNE_JOB, run_id, error=error))
    if log is not None:
        FineTuneRun.objects.filter(pk=run_id).update(log=log[-LOG_LIMIT:])


def finetune_run_cancel(*, run_id: int) -> FineTuneRun:
    """Cancel a pending or running run (Conflict once it finished); a running one stops at its next logged
    step, and its folder is removed."""
    finetune_run_get(run_id=run_id)  # NotFound first
    return job_cancel(FINETUNE_JOB, run_id)
