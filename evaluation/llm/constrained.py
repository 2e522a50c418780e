"""The grade's JSON Schema as a byte automaton, so the local backend constrains its output as the servers do.

Ollama and llama.cpp turn the schema we send into a grammar and let the model write only what fits it; the
local backend (`local.py`) does the same with this automaton: the schema's objects become their keys in
order, compact (no whitespace), and the model chooses only the values — numbers, strings and lists of
strings. It covers what the grade's schema uses (objects with required keys, number, integer, string, array
of strings) and refuses any other schema. Bounds (minimum, maximum) are not enforced here, as a grammar does
not enforce them either: parsing clamps them. A string or list the model never closes still runs into the
token budget and comes out as invalid JSON, exactly as from a server.

`SchemaAutomaton` is pure Python; `token_bytes` and `SchemaLogitsMask` need torch and a tokenizer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

State = tuple[int, int]  # (part, position within the part)

# Positions within a part.
_NUM_START, _NUM_ZERO, _NUM_INT, _NUM_DOT, _NUM_FRAC = range(5)
_STR_OPEN, _STR_BODY, _STR_ESCAPE = 0, 1, 2  # then 3-6: the four hex digits of a \u escape
_LIST_OPEN, _LIST_FIRST, _LIST_AFTER_ITEM, _LIST_NEXT = 10, 11, 12, 13  # items use the string positions 1-6

_DIGITS = frozenset(b"0123456789")
_HEX = frozenset(b"0123456789abcdefABCDEF")
_ESCAPES = frozenset(b'"\\/bfnrt')


class UnsupportedSchema(ValueError):
    """The schema uses something the automaton does not cover."""


@dataclass(frozen=True)
class _Part:
    kind: str  # "literal", "number", "string" or "strings"
    literal: bytes = b""


def _parts(schema: dict[str, Any]) -> list[_Part]:
    kind = schema.get("type")
    if kind == "object":
        properties = schema.get("properties") or {}
        if set(schema.get("required") or ()) != set(properties):
            raise UnsupportedSchema("every property of an object must be required")
        parts = [_Part("literal", b"{")]
        for index, (key, value) in enumerate(properties.items()):
            prefix = b"," if index else b""
            parts += [_Part("literal", prefix + json.dumps(key).encode() + b":"), *_parts(value)]
        return [*parts, _Part("literal", b"}")]
    if kind in ("number", "integer"):
        return [_Part("number")]
    if kind == "string":
        return [_Part("string")]
    if kind == "array" and (schema.get("items") or {}).get("type") == "string":
        return [_Part("strings")]
    raise UnsupportedSchema(f"unsupported schema node: {json.dumps(schema)[:80]}")


def _merged(parts: list[_Part]) -> tuple[_Part, ...]:
    merged: list[_Part] = []
    for part in parts:
        if merged and part.kind == merged[-1].kind == "literal":
            merged[-1] = _Part("literal", merged[-1].literal + part.literal)
        else:
            merged.append(part)
    return tuple(merged)


class SchemaAutomaton:
    """Feeds bytes one at a time: `step(state, byte)` is the next state, or None where the byte cannot
    continue a compact JSON value of the schema. `done(state)`: the value is complete."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self.parts = _merged(_parts(schema))
        self.start: State = self._enter(0)

    def _enter(self, index: int) -> State:
        if index < len(self.parts) and self.parts[index].kind == "strings":
            return (index, _LIST_OPEN)
        return (index, 0)

    def done(self, state: State) -> bool:
        return state[0] == len(self.parts)

    def feed(self, state: State | None, data: bytes) -> State | None:
        for byte in data:
            if state is None:
                return None
            state = self.step(state, byte)
        return state

    def step(self, state: State, byte: int) -> State | None:
        index, position = state
        if index == len(self.parts):
            return None
        part = self.parts[index]
        if part.kind == "literal":
            if byte != part.literal[position]:
                return None
            return self._enter(index + 1) if position + 1 == len(part.literal) else (index, position + 1)
        if part.kind == "number":
            return self._number(index, position, byte)
        if part.kind == "string" and position == _STR_OPEN:
            return (index, _STR_BODY) if byte == ord('"') else None
        if part.kind == "string":
            after = self._string(position, byte)
            return self._enter(index + 1) if after == -1 else None if after is None else (index, after)
        return self._strings(index, position, byte)

    def _number(self, index: int, position: int, byte: int) -> State | None:
        if position == _NUM_START:
            return (index, _NUM_ZERO if byte == ord("0") else _NUM_INT) if byte in _DIGITS else None
        if byte in _DIGITS and position != _NUM_ZERO:
            return (index, _NUM_FRAC if position in (_NUM_DOT, _NUM_FRAC) else _NUM_INT)
        if byte == ord(".") and position in (_NUM_ZERO, _NUM_INT):
            return (index, _NUM_DOT)
        if position == _NUM_DOT:
            return None
        return self.step(self._enter(index + 1), byte)  # the number ended: the byte belongs to what follows

    @staticmethod
    def _string(position: int, byte: int) -> int | None:
        """The next position inside a string's body (1-6), -1 when the byte closes it, None when refused."""
        if position == _STR_BODY:
            if byte == ord('"'):
                return -1
            if byte == ord("\\"):
                return _STR_ESCAPE
            return None if byte < 0x20 else _STR_BODY
        if position == _STR_ESCAPE:
            if byte == ord("u"):
                return 3
            return _STR_BODY if byte in _ESCAPES else None
        if byte not in _HEX:
            return None
        return _STR_BODY if position == 6 else position + 1

    def _strings(self, index: int, position: int, byte: int) -> State | None:
        if position == _LIST_OPEN:
            return (index, _LIST_FIRST) if byte == ord("[") else None
        if position in (_LIST_FIRST, _LIST_AFTER_ITEM) and byte == ord("]"):
            return self._enter(index + 1)
        if position in (_LIST_FIRST, _LIST_NEXT):
            return (index, _STR_BODY) if byte == ord('"') else None
        if position == _LIST_AFTER_ITEM:
            return (index, _LIST_NEXT) if byte == ord(",") else None
        after = self._string(position, byte)
        return (index, _LIST_AFTER_ITEM) if after == -1 else None if after is None else (index, after)


def token_bytes(tokenizer: Any) -> list[bytes | None]:
    """The bytes each token id writes (None for special tokens): exact for byte-level BPE vocabularies, the
    decoded text otherwise."""
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    to_byte = {char: byte for byte, char in bytes_to_unicode().items()}
    special = set(tokenizer.all_special_ids)
    pieces = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    result: list[bytes | None] = []
    for token_id, piece in enumerate(pieces):
        if token_id in special or piece is None:
            result.append(None)
        elif all(char in to_byte for char in piece):
            result.append(bytes(to_byte[char] for char in piece))
        else:
            result.append(tokenizer.decode([token_id]).encode("utf-8") or None)
    return result


class SchemaLogitsMask:
    """A `transformers` logits processor: each row of a batch may write only tokens that keep its output a
    prefix of a valid value, and once the value is complete, only a stop token. One per `generate` call;
    the masks per automaton state are shared through `masks` (a dict the caller keeps per checkpoint)."""

    def __init__(
        self,
        automaton: SchemaAutomaton,
        pieces: list[bytes | None],
        stop_ids: tuple[int, ...],
        *,
        prompt_length: int,
        rows: int,
        masks: dict[State, Any],
    ) -> None:
        self.automaton = automaton
        self.pieces = pieces
        self.stop_ids = stop_ids
        self.prompt_length = prompt_length
        self.states: list[State | None] = [automaton.start] * rows
        self.masks = masks

    def _mask(self, state: State | None, width: int) -> Any:
        import torch

        key = state if state is not None else (-1, -1)
        mask = self.masks.get(key)
        if mask is None or mask.shape[0] != width:
            mask = torch.zeros(width, dtype=torch.bool)
            if state is None or self.automaton.done(state):
                mask[list(self.stop_ids)] = True
            else:
                allowed = [
                    token_id
                    for token_id, data in enumerate(self.pieces[:width])
                    if data and self.automaton.feed(state, data) is not None
                ]
                mask[allowed or list(self.stop_ids)] = True  # no way on: end the row, an invalid output
            self.masks[key] = mask
        return mask

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        if input_ids.shape[1] > self.prompt_length:
            for row, token_id in enumerate(input_ids[:, -1].tolist()):
                state = self.states[row]
                if state is not None and not self.automaton.done(state):
                    data = self.pieces[token_id] if token_id < len(self.pieces) else None
                    self.states[row] = self.automaton.feed(state, data) if data else None
        width = scores.shape[-1]
        allowed = torch.stack([self._mask(state, width) for state in self.states])
        return scores.masked_fill(~allowed, float("-inf"))
