"""The export's JSONL files as chat conversations (system, user, assistant), whatever the export's format.

Training reads the `messages` shape; alpaca and sharegpt records are converted in memory, so any export
can be trained on. Pure: no ORM, no torch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import DatasetFileError

Conversation = list[dict[str, str]]


@dataclass(frozen=True)
class PreferencePair:
    """One preference record: the turns before the answer, the chosen answer and the rejected one."""

    prompt: Conversation
    chosen: str
    rejected: str


_SHAREGPT_ROLES = {"system": "system", "human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant"}


def to_messages(fmt: str, record: dict[str, Any]) -> Conversation:
    """One record of an export in `fmt` (alpaca | sharegpt | messages) as chat messages."""
    if fmt == "messages":
        messages = record["messages"]
    elif fmt == "sharegpt":
        messages = [
            {"role": _SHAREGPT_ROLES[turn["from"]], "content": turn["value"]} for turn in record["conversations"]
        ]
    elif fmt == "preference":  # supervised training learns the chosen (human) grade of a pair
        messages = [*record["prompt"], *record["chosen"]]
    elif fmt == "alpaca":
        messages = [
            {"role": "system", "content": record["instruction"]},
            {"role": "user", "content": record["input"]},
            {"role": "assistant", "content": record["output"]},
        ]
    else:
        raise DatasetFileError(f"unknown dataset format {fmt!r}")
    return [{"role": str(message["role"]), "content": str(message["content"])} for message in messages]


def read_conversations(path: Path, fmt: str) -> list[Conversation]:
    """Every record of a JSONL file; each must end with the assistant's answer (the label to learn)."""
    conversations = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                messages = to_messages(fmt, json.loads(line))
            except (ValueError, KeyError, TypeError) as exc:
                raise DatasetFileError(f"{path.name} line {number}: not a {fmt} record ({exc})") from None
            if len(messages) < 2 or messages[-1]["role"] != "assistant":
                raise DatasetFileError(f"{path.name} line {number}: the last message must be the assistant's")
            conversations.append(messages)
    return conversations


def _answer(turns: Any) -> str:
    if not isinstance(turns, list) or len(turns) != 1 or turns[0]["role"] != "assistant":
        raise ValueError("chosen and rejected must each be one assistant message")
    return str(turns[0]["content"])


def read_preferences(path: Path) -> list[PreferencePair]:
    """Every record of a `preference` JSONL file (TRL's prompt / chosen / rejected message lists)."""
    pairs = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                prompt = [{"role": str(m["role"]), "content": str(m["content"])} for m in record["prompt"]]
                pair = PreferencePair(
                    prompt=prompt, chosen=_answer(record["chosen"]), rejected=_answer(record["rejected"])
                )
            except (ValueError, KeyError, TypeError) as exc:
                raise DatasetFileError(f"{path.name} line {number}: not a preference record ({exc})") from None
            pairs.append(pair)
    return pairs
