"""Ollama Modelfiles: a builder and a parser for the same syntax. Pure: no ORM, no settings, no I/O.

The grammar follows Ollama's own parser (`parser/parser.go`): one command per line (`FROM`, `ADAPTER`,
`PARAMETER name value`, `TEMPLATE`, `SYSTEM`, `MESSAGE role value`, `LICENSE`), `#` comments, and values
that are bare (the rest of the line), `"quoted"` or `\"\"\"triple-quoted\"\"\"` (may span lines).

Ollama's syntax has no escapes: a triple-quoted block ends at the first line break where the text so far
ends with three quotes, and Ollama drops every non-printable character (so an invisible zero-width guard
would vanish before it could help). The builder therefore turns the last `"` of a line-ending run of three
or more quotes into `”` (U+201D): the only change it ever makes to a text, and one a model reads the same
way. Carriage returns become line feeds and other control characters are dropped, as Ollama drops them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

CLOSING_QUOTE_GUARD = "\u201d"  # ” replaces the last " of a line-ending run of three

PARAMETER_TYPES: dict[str, type] = {
    "temperature": float,
    "top_p": float,
    "top_k": int,
    "min_p": float,
    "num_ctx": int,
    "num_predict": int,
    "repeat_penalty": float,
    "repeat_last_n": int,
    "seed": int,
    "stop": str,
}
MESSAGE_ROLES = ("system", "user", "assistant")
COMMANDS = ("from", "adapter", "parameter", "template", "system", "message", "license")


class ModelfileError(ValueError):
    """A Modelfile that Ollama would refuse, with the line where it goes wrong when there is one."""

    def __init__(self, message: str, *, line: int | None = None) -> None:
        super().__init__(f"line {line}: {message}" if line else message)
        self.line = line


@dataclass
class ModelfileSpec:
    from_: str
    adapter: str | None = None
    parameters: list[tuple[str, int | float | str]] = field(default_factory=list)
    template: str | None = None
    system: str | None = None
    messages: list[tuple[str, str]] = field(default_factory=list)
    license: str | None = None

    def parameter_dict(self) -> dict[str, int | float | str | list[str]]:
        """Parameters as Ollama's API takes them: `stop` is a list, the others single values."""
        result: dict[str, int | float | str | list[str]] = {}
        for name, value in self.parameters:
            if name == "stop":
                stops = result.setdefault("stop", [])
                assert isinstance(stops, list)
                stops.append(str(value))
            else:
                result[name] = value
        return result


def coerce_parameter(name: str, value: object, *, line: int | None = None) -> int | float | str:
    """Check a parameter name and convert its value to the type Ollama expects."""
    if name not in PARAMETER_TYPES:
        known = ", ".join(sorted(PARAMETER_TYPES))
        raise ModelfileError(f"unknown PARAMETER {name!r} (known: {known})", line=line)
    kind = PARAMETER_TYPES[name]
    try:
        if kind is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            return int(str(value).strip()) if not isinstance(value, int | float) else int(value)
        if kind is float:
            return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ModelfileError(
            f"PARAMETER {name} needs {'an integer' if kind is int else 'a number'}, got {value!r}", line=line
        ) from None
    text = str(value)
    if "\n" in text or "\r" in text or not text:
        raise ModelfileError(f"PARAMETER {name} must be a non-empty single line", line=line)
    return text


def _clean_text(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return "".join(ch for ch in text if ch in "\n\t" or ch.isprintable())


def _guard_block(text: str) -> str:
    """Make sure no inner line of `text` ends (before white space) in three quotes, which would close the block.

    The last line needs no guard: the closing quotes follow it, and Ollama strips exactly three.
    """
    lines = text.split("\n")
    for index, line in enumerate(lines[:-1]):
        stripped = line.rstrip()
        if stripped.endswith('"""'):
            lines[index] = stripped[:-1] + CLOSING_QUOTE_GUARD + line[len(stripped) :]
    return "\n".join(lines)


def _block(text: str) -> str:
    return '"""' + _guard_block(_clean_text(text)) + '"""'


def _single_line(value: str, what: str) -> str:
    if "\n" in value or "\r" in value:
        raise ModelfileError(f"{what} must be a single line")
    if not value.strip():
        raise ModelfileError(f"{what} must not be empty")
    return value.strip()


def render(modelfile: ModelfileSpec) -> str:
    """The Modelfile text: commands in a fixed order, so the same input always gives the same bytes."""
    lines = [f"FROM {_single_line(modelfile.from_, 'FROM')}"]
    if modelfile.adapter:
        lines.append(f"ADAPTER {_single_line(modelfile.adapter, 'ADAPTER')}")
    for name, value in modelfile.parameters:
        value = coerce_parameter(name, value)
        shown = f'"{value}"' if name == "stop" else repr(value) if isinstance(value, float) else str(value)
        lines.append(f"PARAMETER {name} {shown}")
    if modelfile.template is not None:
        lines.append(f"TEMPLATE {_block(modelfile.template)}")
    if modelfile.system is not None:
        lines.append(f"SYSTEM {_block(modelfile.system)}")
    for role, content in modelfile.messages:
        if role not in MESSAGE_ROLES:
            raise ModelfileError(f"MESSAGE role must be one of {', '.join(MESSAGE_ROLES)}, got {role!r}")
        lines.append(f"MESSAGE {role} {_block(content)}")
    if modelfile.license is not None:
        lines.append(f"LICENSE {_block(modelfile.license)}")
    return "\n".join(lines) + "\n"


_COMMAND = re.compile(r"[A-Za-z]+")
_PARAM_NAME = re.compile(r"[A-Za-z0-9_]+")


def _read_value(text: str, pos: int, line_no: int) -> tuple[str, int, int]:
    """Read a value starting at `pos`; returns (value, position after it, line number after it)."""
    for quote in ('"""', '"'):
        if text.startswith(quote, pos):
            search = pos
            while True:
                newline = text.find("\n", search)
                end = len(text) if newline < 0 else newline
                candidate = text[pos:end].rstrip()
                if len(candidate) >= 2 * len(quote) and candidate.endswith(quote):
                    value = candidate[len(quote) : -len(quote)]
                    return value, end, line_no + text.count("\n", pos, end)
                if newline < 0:
                    raise ModelfileError(f"unterminated {quote} value", line=line_no)
                search = newline + 1
    end = text.find("\n", pos)
    end = len(text) if end < 0 else end
    return text[pos:end].strip(" \t"), end, line_no


def parse(text: str) -> ModelfileSpec:
    """Parse Modelfile text; raise `ModelfileError` (with the line) for anything Ollama would refuse."""
    text = _clean_text(text.lstrip("\ufeff"))
    pos, line_no = 0, 1
    from_: str | None = None
    result = ModelfileSpec(from_="")
    while pos < len(text):
        char = text[pos]
        if char == "\n":
            pos, line_no = pos + 1, line_no + 1
            continue
        if char in " \t":
            pos += 1
            continue
        if char == "#":
            end = text.find("\n", pos)
            pos = len(text) if end < 0 else end
            continue
        match = _COMMAND.match(text, pos)
        if not match or match.end() >= len(text) or text[match.end()] not in " \t":
            raise ModelfileError(f"expected one of {', '.join(c.upper() for c in COMMANDS)}", line=line_no)
        command = match.group().lower()
        if command not in COMMANDS:
            raise ModelfileError(f"unknown command {match.group()!r}", line=line_no)
        pos = match.end()
        while pos < len(text) and text[pos] in " \t":
            pos += 1
        name = role = ""
        if command in ("parameter", "message"):
            word = _PARAM_NAME.match(text, pos)
            if not word:
                raise ModelfileError(
                    f"{command.upper()} needs a {'name' if command == 'parameter' else 'role'}", line=line_no
                )
            name = word.group()
            pos = word.end()
            while pos < len(text) and text[pos] in " \t":
                pos += 1
            if command == "message" and name not in MESSAGE_ROLES:
                raise ModelfileError(f"MESSAGE role must be one of {', '.join(MESSAGE_ROLES)}", line=line_no)
            role = name
        start_line = line_no
        value, pos, line_no = _read_value(text, pos, line_no)
        rest_end = text.find("\n", pos)
        rest = text[pos : len(text) if rest_end < 0 else rest_end]
        if rest.strip():
            raise ModelfileError(f"unexpected text after the value: {rest.strip()[:40]!r}", line=line_no)
        if command == "from":
            from_ = value
            result.from_ = value
        elif command == "adapter":
            result.adapter = value
        elif command == "parameter":
            result.parameters.append((name, coerce_parameter(name, value, line=start_line)))
        elif command == "message":
            result.messages.append((role, value))
        else:
            setattr(result, command, value)
    if not from_:
        raise ModelfileError("no FROM line")
    return result
