"""The `local` backend: grade in this process with a Hugging Face checkpoint on disk, through `transformers`.

For machines without an LLM server (and without the `[serve]` extra that builds llama.cpp): the demo
compares its tiny base and fine-tuned checkpoints this way (`compare_models --models base=tiny-base@local
ft=latest@local`), and `LLM_BACKEND=local` with `LLM_BASE_URL` set to a checkpoint directory grades live
requests the same way. The client takes what the HTTP clients take and returns the same `ChatResult`, so the
prompt (`prompts.build_messages`), the parsing (`parsing`) and the heuristic fallback around it are the
servers' own. `base_url` is the checkpoint directory (configuration, never a request's input); `model` is
only the name recorded with each grade.

As a server would, it samples like llama.cpp and Ollama by default (repetition penalty over the last 64
tokens) and constrains the output to the schema (`constrained.py`: the keys and punctuation are the
schema's, the model chooses the values). Calls that arrive together — the worker threads of a comparison or
a batch (`LLM_CONCURRENCY`) — are generated as one batch, which is how a CPU keeps up; `chat_many` does the
same for a list in hand. torch and transformers (the `[train]` extra) are imported on first use only: the
core installs and starts without them.
"""

from __future__ import annotations

import asyncio
import functools
import importlib.util
import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .clients import BaseLLMClient, ChatResult, HealthStatus, LLMError, LLMUnavailable
from .constrained import SchemaAutomaton, SchemaLogitsMask, State, UnsupportedSchema, token_bytes

BACKEND = "local"
DEFAULT_BATCH_SIZE = 16
GATHER_SECONDS = 0.05  # how long a batch waits for calls arriving together before it starts
# llama.cpp's and Ollama's default repetition penalty (repeat_penalty, repeat_last_n): the servers sample with
# it, so a grade from here is comparable with theirs, and it keeps a small model out of a loop.
REPEAT_PENALTY = 1.1
REPEAT_WINDOW = 64
# Below this size a model's matrices are too small to share among threads: measured on 2 cores with the
# demo's tiny model, a decoding step took 5x the CPU time with two threads (they wait on each other).
ONE_THREAD_BELOW_PARAMETERS = 20_000_000


@dataclass
class _Call:
    """One conversation waiting to be generated, with the options it must share with its batch."""

    prompt: str
    options: tuple[Any, ...]  # (schema JSON, max_new_tokens, temperature, seed)
    reply: str | None = None
    error: Exception | None = None
    latency_ms: int = 0
    done: bool = False


@dataclass
class _Loaded:
    model: Any
    tokenizer: Any
    stop_ids: tuple[int, ...]
    context: int
    one_thread: bool
    pieces: list[bytes | None]  # the bytes each token writes, for the schema constraint
    masks: dict[str, dict[State, Any]] = field(default_factory=dict)  # allowed tokens per state, per schema
    queue: list[_Call] = field(default_factory=list)
    busy: bool = False  # a thread is generating a batch
    turn: threading.Condition = field(default_factory=threading.Condition)


_LOADING = threading.Lock()  # the threads of one comparison all ask for the checkpoint at once: load it once


def _checkpoint_dir(base_url: str) -> Path:
    return Path(base_url).expanduser()


@functools.lru_cache(maxsize=4)
def _load(path: str, modified: float) -> _Loaded:
    """The checkpoint's model and tokenizer, loaded once per directory and modification time (a retrained
    checkpoint in the same place is loaded again)."""
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    # A grader prints nothing of its own: no loading bar or load report between a command's lines.
    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    if not tokenizer.chat_template:
        raise LLMUnavailable(f"the tokenizer of {path} has no chat template: it cannot take a conversation")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True, dtype=torch.float32)
    model.eval()
    stops = {tokenizer.eos_token_id, *(tokenizer.convert_tokens_to_ids(t) for t in ("<|im_end|>", "<|eot_id|>"))}
    return _Loaded(
        model=model,
        tokenizer=tokenizer,
        stop_ids=tuple(sorted(i for i in stops if isinstance(i, int) and i != tokenizer.unk_token_id)),
        context=int(getattr(model.config, "max_position_embeddings", 0) or 4096),
        one_thread=sum(p.numel() for p in model.parameters()) < ONE_THREAD_BELOW_PARAMETERS,
        pieces=token_bytes(tokenizer),
    )


@functools.lru_cache(maxsize=8)
def _automaton(schema_json: str) -> SchemaAutomaton | None:
    try:
        return SchemaAutomaton(json.loads(schema_json))
    except UnsupportedSchema:
        return None


def local_checkpoint_problem(base_url: str) -> str:
    """Why `base_url` cannot be graded with ('' when it can): the extra, or the directory."""
    missing = [name for name in ("torch", "transformers") if importlib.util.find_spec(name) is None]
    if missing:
        return f"the local backend needs the [train] extra (missing: {', '.join(missing)}): pip install -e '.[train]'"
    path = _checkpoint_dir(base_url)
    if not (path / "config.json").is_file():
        return f"{path} is not a Hugging Face checkpoint directory (no config.json)"
    return ""


class LocalTransformersClient(BaseLLMClient):
    """Generates with the checkpoint in `base_url`; keyword arguments of the HTTP clients are accepted and
    those that mean nothing here (api_key, http, retries) are ignored."""

    backend = BACKEND

    def __init__(
        self,
        *,
        base_url: str,
        model: str = "",
        timeout: float = 60.0,
        batch_size: int = DEFAULT_BATCH_SIZE,
        **_http_options: Any,
    ) -> None:
        if not base_url:
            raise ValueError("LocalTransformersClient needs base_url: the checkpoint directory")
        self.base_url = str(base_url)
        self.model = model or _checkpoint_dir(base_url).name
        self.timeout = timeout
        self.batch_size = max(1, batch_size)
        self.max_retries = 0
        self._owns_http = False

    def close(self) -> None:
        """Nothing to close: loaded checkpoints stay cached for the process's next client."""

    async def aclose(self) -> None:
        """Nothing to close either."""

    async def achat(self, messages: list[dict[str, str]], **options: Any) -> ChatResult:
        """`chat` in a worker thread: generating holds the CPU, never the event loop."""
        return await asyncio.to_thread(self.chat, messages, **options)

    def health(self) -> HealthStatus:
        problem = local_checkpoint_problem(self.base_url)
        if problem:
            return HealthStatus(ok=False, detail=problem)
        return HealthStatus(ok=True, detail="ok", models=[self.model])

    def _loaded(self) -> _Loaded:
        problem = local_checkpoint_problem(self.base_url)
        if problem:
            raise LLMUnavailable(problem)
        path = _checkpoint_dir(self.base_url).resolve()
        try:
            with _LOADING:
                return _load(str(path), (path / "config.json").stat().st_mtime)
        except (OSError, ValueError) as exc:
            raise LLMUnavailable(f"could not load the checkpoint in {path}: {exc}") from None

    def _call(self, loaded: _Loaded, messages: list[dict[str, str]], **options: Any) -> _Call:
        prompt = loaded.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        room = loaded.context - len(loaded.tokenizer(prompt, add_special_tokens=False)["input_ids"])
        if room < 1:
            raise LLMError(f"the prompt is longer than the model's context of {loaded.context} tokens")
        max_new_tokens = min(options.get("num_predict") or room, room)
        key = (json.dumps(options["schema"]), max_new_tokens, options.get("temperature", 0.1), options.get("seed"))
        return _Call(prompt=prompt, options=key)

    def _result(self, call: _Call) -> ChatResult:
        if call.error is not None:
            raise call.error
        return ChatResult(content=call.reply or "", model=self.model, latency_ms=call.latency_ms, attempts=1)

    def chat(
        self,
        messages: list[dict[str, str]],
        *,
        schema: dict[str, Any],
        temperature: float = 0.1,
        num_predict: int | None = None,
        seed: int | None = None,
    ) -> ChatResult:
        """One reply; calls from other threads waiting at the same time are generated in the same batch."""
        loaded = self._loaded()
        call = self._call(loaded, messages, schema=schema, temperature=temperature, num_predict=num_predict, seed=seed)
        with loaded.turn:
            loaded.queue.append(call)
            loaded.turn.notify_all()
        while True:
            with loaded.turn:
                while loaded.busy and not call.done:
                    loaded.turn.wait()
                if call.done:
                    return self._result(call)
                loaded.busy = True
            try:
                time.sleep(GATHER_SECONDS)  # the other threads of a batch_map reach the queue meanwhile
                with loaded.turn:
                    batch = _take_batch(loaded.queue, self.batch_size)
                _run_batch(loaded, batch)
            finally:
                with loaded.turn:
                    loaded.busy = False
                    loaded.turn.notify_all()

    def chat_many(self, conversations: list[list[dict[str, str]]], **options: Any) -> list[ChatResult]:
        """Each conversation's reply, in order, generated `batch_size` at a time (sorted by prompt length, so a
        batch pads little). Takes `chat`'s options."""
        loaded = self._loaded()
        calls = [self._call(loaded, messages, **options) for messages in conversations]
        by_length = sorted(calls, key=lambda call: len(call.prompt))
        for start in range(0, len(by_length), self.batch_size):
            with loaded.turn:
                while loaded.busy:
                    loaded.turn.wait()
                loaded.busy = True
            try:
                _run_batch(loaded, by_length[start : start + self.batch_size])
            finally:
                with loaded.turn:
                    loaded.busy = False
                    loaded.turn.notify_all()
        return [self._result(call) for call in calls]


def _take_batch(queue: list[_Call], size: int) -> list[_Call]:
    """Up to `size` waiting calls with the first one's options, removed from the queue."""
    batch = [call for call in queue if call.options == queue[0].options][:size]
    for call in batch:
        queue.remove(call)
    return batch


def _run_batch(loaded: _Loaded, batch: list[_Call]) -> None:
    if not batch:
        return
    began = time.perf_counter()
    try:
        replies = _generate(loaded, [call.prompt for call in batch], *batch[0].options)
    except Exception as exc:  # every waiting caller gets the failure, none waits for ever
        error = exc if isinstance(exc, LLMError) else LLMError(f"local generation failed: {type(exc).__name__}: {exc}")
        for call in batch:
            call.error, call.done = error, True
        return
    latency_ms = round((time.perf_counter() - began) * 1000)
    for call, reply in zip(batch, replies, strict=True):
        call.reply, call.latency_ms, call.done = reply, latency_ms, True


class _RecentRepeatPenalty:
    """Makes the tokens among the last `REPEAT_WINDOW` generated ones less likely (the prompt is left alone:
    a grade rightly repeats the question's concepts)."""

    def __init__(self, prompt_length: int) -> None:
        self.prompt_length = prompt_length

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        recent = input_ids[:, max(self.prompt_length, input_ids.shape[1] - REPEAT_WINDOW) :]
        if recent.shape[1] == 0:
            return scores
        picked = scores.gather(1, recent)
        picked = torch.where(picked > 0, picked / REPEAT_PENALTY, picked * REPEAT_PENALTY)
        return scores.scatter(1, recent, picked)


def _generate(
    loaded: _Loaded, prompts: list[str], schema_json: str, max_new_tokens: int, temperature: float, seed: int | None
) -> list[str]:
    import torch
    from transformers import LogitsProcessorList

    tokenizer = loaded.tokenizer
    batch = tokenizer(prompts, return_tensors="pt", padding=True, padding_side="left", add_special_tokens=False)
    prompt_length = batch["input_ids"].shape[1]
    processors = LogitsProcessorList([_RecentRepeatPenalty(prompt_length)])
    automaton = _automaton(schema_json)  # the key order matters: the automaton writes the keys in it
    if automaton is not None:
        masks = loaded.masks.setdefault(schema_json, {})
        processors.append(
            SchemaLogitsMask(
                automaton, loaded.pieces, loaded.stop_ids, prompt_length=prompt_length, rows=len(prompts), masks=masks
            )
        )
    sampling: dict[str, Any] = {"do_sample": False}
    if temperature > 0:
        sampling = {"do_sample": True, "temperature": temperature, "top_k": 0, "top_p": 1.0}
    threads = torch.get_num_threads()
    if loaded.one_thread:
        torch.set_num_threads(1)
    try:
        with torch.inference_mode():
            if seed is not None:
                torch.manual_seed(seed)
            output = loaded.model.generate(
                **batch,
                max_new_tokens=max_new_tokens,
                use_cache=True,  # a trained checkpoint's config may say otherwise (training needs no cache)
                eos_token_id=list(loaded.stop_ids),
                pad_token_id=tokenizer.pad_token_id,
                logits_processor=processors,
                **sampling,
            )
    finally:
        torch.set_num_threads(threads)
    return tokenizer.batch_decode(output[:, prompt_length:], skip_special_tokens=True)
