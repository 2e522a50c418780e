"""`manage.py finetune`: fine-tune a grader on a finished dataset export and register the model version.

Under `accelerate launch` (several processes, e.g. one per GPU) the main process creates the run and tells
the others its id; they train their share (`finetune_run_follow`) and only the main process writes the row,
the files and the version, and prints the report.
"""

from __future__ import annotations

import sys
import threading

from django.core.management.base import BaseCommand, CommandError
from django.db import OperationalError, connection
from tqdm import tqdm

from ready4hire.errors import DomainError
from training.finetune.errors import FineTuneError
from training.finetune.processes import is_main_process, share_from_main, world_size
from training.management.dataset_option import dataset_export_option
from training.models import FineTuneRun, JobStatus
from training.selectors.finetune import finetune_run_get
from training.services.finetune import (
    finetune_run_create,
    finetune_run_execute,
    finetune_run_fail,
    finetune_run_follow,
)

POLL_SECONDS = 0.5


def run_hardware(run: FineTuneRun) -> str:
    """'cuda (2 × NVIDIA H100 80GB HBM3), bf16' / 'cpu, fp32'."""
    device = run.device or "?"
    if run.gpu_name:
        device += f" ({run.gpu_name})"
    processes = run.metrics.get("processes", 1)
    return (
        device + (f", {run.precision}" if run.precision else "") + (f", {processes} processes" if processes > 1 else "")
    )


class Command(BaseCommand):
    help = (
        "Fine-tune a grader on a finished dataset export: train (TRL, LoRA/QLoRA/full), merge, write GGUF and a "
        "Modelfile, and register the model version. --init-tiny starts from a tiny random-initialised model "
        "(and registers it too, as the base to compare with). Needs the [train] extra: pip install -e '.[train]'."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dataset", type=int, required=True, help="The dataset export id.")
        start = parser.add_mutually_exclusive_group(required=True)
        start.add_argument(
            "--base",
            help="A local model directory, or a Hugging Face hub id (org/name or org/name@revision), fetched into "
            "the HF cache before the run is stored (HF_HUB_OFFLINE: from the cache only).",
        )
        start.add_argument("--init-tiny", action="store_true", help="Start from a tiny random-initialised Llama.")
        start.add_argument(
            "--base-run", type=int, help="Start from the merged model of a finished run (e.g. DPO after SFT)."
        )
        parser.add_argument(
            "--method",
            choices=FineTuneRun.Method.values,
            help="Default: full with --init-tiny, lora otherwise. dpo trains on a preference export (corrections).",
        )
        parser.add_argument(
            "--backend",
            choices=FineTuneRun.Backend.values,
            default=FineTuneRun.Backend.TRL,
            help="trl (default) or unsloth (needs a CUDA GPU and the unsloth package).",
        )
        parser.add_argument("--steps", type=int, help="Optimizer steps (overrides --epochs).")
        parser.add_argument("--epochs", type=float)
        parser.add_argument("--lr", type=float, help="Learning rate.")
        parser.add_argument("--batch-size", type=int)
        parser.add_argument("--grad-accum", type=int, help="Gradient accumulation steps.")
        parser.add_argument("--lora-r", type=int)
        parser.add_argument("--lora-alpha", type=int)
        parser.add_argument("--lora-dropout", type=float)
        parser.add_argument("--target-modules", help="Comma-separated, e.g. q_proj,v_proj.")
        parser.add_argument("--max-length", type=int, help="Longer examples are left out, never cut.")
        parser.add_argument("--seed", type=int)
        parser.add_argument("--gradient-checkpointing", action="store_true", help="Trade speed for memory.")
        parser.add_argument("--output-dir", default="", help="Default: MEDIA_ROOT/finetune/run-<id>.")
        parser.add_argument("--queue", action="store_true", help="Queue the run on the training workers and exit.")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar.")

    def handle(self, *args, **options):
        hyperparameters = {
            "max_steps": options["steps"],
            "epochs": options["epochs"],
            "learning_rate": options["lr"],
            "batch_size": options["batch_size"],
            "grad_accum": options["grad_accum"],
            "lora_r": options["lora_r"],
            "lora_alpha": options["lora_alpha"],
            "lora_dropout": options["lora_dropout"],
            "target_modules": options["target_modules"],
            "max_length": options["max_length"],
            "seed": options["seed"],
            "gradient_checkpointing": options["gradient_checkpointing"] or None,
        }
        processes = world_size()
        if processes > 1 and options["queue"]:
            raise CommandError("--queue hands the run to a worker: run it without accelerate launch.")
        run = None
        try:
            if is_main_process():
                run = finetune_run_create(
                    dataset_export_id=dataset_export_option(options["dataset"]),
                    base_model=options["base"] or "",
                    init_tiny=options["init_tiny"],
                    base_run_id=options["base_run"],
                    backend=options["backend"],
                    method=options["method"],
                    hyperparameters={key: value for key, value in hyperparameters.items() if value is not None},
                    output_dir=options["output_dir"],
                    enqueue=options["queue"],
                )
        except DomainError as exc:
            raise CommandError(str(exc)) from None
        finally:
            # The other processes wait for the run's id (None: the main process refused it and says why).
            run_id = share_from_main(run.pk if run is not None else None)
        if run is None:
            if run_id is None:
                raise CommandError("The main process refused the run (its output says why).")
            try:
                finetune_run_follow(run_id=run_id)
            except (DomainError, FineTuneError) as exc:
                raise CommandError(f"Fine-tune run #{run_id}: {exc}") from None
            return
        if options["queue"]:
            self.stdout.write(f"Fine-tune run #{run.pk} queued on the training workers.")
            return
        self.stdout.write(
            f"Fine-tune run #{run.pk}: {run.method} on dataset export {run.dataset_export_id} from {run.base_model}"
            + (f", {processes} processes" if processes > 1 else "")
        )
        run, failure = self._execute_with_progress(run.pk, show=not options["no_progress"])
        if run.status != JobStatus.DONE:
            raise CommandError(f"Fine-tune run #{run.pk} {run.status}: {run.error or failure}")
        self._report(run)

    def _execute_with_progress(self, run_id: int, *, show: bool) -> tuple[FineTuneRun, str]:
        """Train in a worker thread while this one draws the bar from the row's progress, as a person
        watching the admin or the API would see it."""
        failure: list[Exception] = []

        def work() -> None:
            try:
                finetune_run_execute(run_id=run_id)
            except Exception as exc:  # the service records it on the row; kept for the message
                failure.append(exc)
            finally:
                connection.close()

        worker = threading.Thread(target=work, name=f"finetune-{run_id}", daemon=True)
        bar = tqdm(total=0, unit="step", desc="Training", disable=not show, file=sys.stderr)
        worker.start()
        try:
            while worker.is_alive():
                worker.join(POLL_SECONDS)
                try:
                    self._update(bar, finetune_run_get(run_id=run_id))
                except OperationalError:
                    continue  # SQLite busy with the training thread's write: the next look will do
        except KeyboardInterrupt:
            finetune_run_fail(run_id=run_id, error="interrupted from the keyboard")
            raise CommandError(f"Fine-tune run #{run_id} interrupted.") from None
        finally:
            bar.close()
        return finetune_run_get(run_id=run_id), f"{type(failure[0]).__name__}: {failure[0]}" if failure else ""

    @staticmethod
    def _update(bar: tqdm, run: FineTuneRun) -> None:
        if run.max_steps and bar.total != run.max_steps:
            bar.reset(total=run.max_steps)
        bar.n = run.step
        bar.set_postfix_str(
            f"epoch {run.epoch:.2f}" + (f" loss {run.loss:.3f}" if run.loss is not None else ""), refresh=False
        )
        bar.refresh()

    def _report(self, run: FineTuneRun) -> None:
        outputs, metrics = run.outputs, run.metrics
        losses = f"training loss {metrics.get('final_train_loss') or float('nan'):.4f}"
        if metrics.get("eval_loss"):
            losses += f", validation loss {metrics['eval_loss'][-1]['loss']:.4f}"
        self.stdout.write(
            self.style.SUCCESS(
                f"Done: {metrics.get('steps')} steps in {metrics.get('train_seconds')} s ({losses}; "
                f"{run.tokens_per_second} tokens/s)"
            )
        )
        self.stdout.write(f"Trained on:         {run_hardware(run)}")
        if run.peak_memory_mb is not None:
            measure = metrics.get("peak_memory_measure", "")
            self.stdout.write(f"Peak memory:        {run.peak_memory_mb:.0f} MB" + (f" ({measure})" if measure else ""))
        if "base_version" in outputs:
            self.stdout.write(f"Base version:       {outputs['base_version']} (GGUF {outputs['base_gguf']})")
        self.stdout.write(f"Model version:      {outputs['version']} (GGUF {outputs['gguf']})")
        self.stdout.write(f"Modelfile:          {outputs['modelfile']}")
        self.stdout.write(f"Merged checkpoint:  {outputs['merged']}")
        if "adapter" in outputs:
            self.stdout.write(f"Adapter:            {outputs['adapter']}")
        base = outputs.get("base_version", "BASE_MODEL")
        self.stdout.write(
            f"Compare it: python manage.py compare_models --dataset {run.dataset_export_id} "
            f"--models base={base} ft={outputs['version']}"
        )
