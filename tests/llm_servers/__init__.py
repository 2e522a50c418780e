"""Real LLM servers on loopback: Ollama's native API and the OpenAI-compatible chat API, over real HTTP.

Tests, the Celery worker test and the benchmarks talk to these exactly as production talks to Ollama or vLLM,
so what is checked is the bytes on the wire, not a mock of our client. Each chat call takes the next mode from
a script (`server.script("invalid_json", "valid")`), then `default_mode`:

- ``valid``: a schema-valid grade computed from the prompt, like a (very simple) grader would: the score follows
  the share of expected concepts found in the candidate's answer, and the breakdown sums to it.
- ``invalid_json``: truncated JSON. ``schema_invalid``: JSON, wrong shape. ``out_of_range``: right shape,
  numbers past the bounds.
- ``slow``: waits ``slow_seconds``, then valid. ``error_500``: HTTP 500. ``garbage_envelope``: HTTP 200, not JSON.

`FakeOllamaServer` also manages models as Ollama does: blobs (`HEAD`/`POST /api/blobs/sha256:<hex>`, the bytes
checked against the digest), `POST /api/create` (every digest in `files`/`adapters` must have been uploaded; the
new model is then listed and answers chats), `POST /api/show` and `DELETE /api/delete`.
"""

from .grader import Mode, grade_for
from .ollama import FakeOllamaServer
from .openai import FakeOpenAIServer
from .server import DEFAULT_MODEL, FakeLLMServer, RecordedRequest, closed_port_url

__all__ = [
    "DEFAULT_MODEL",
    "FakeLLMServer",
    "FakeOllamaServer",
    "FakeOpenAIServer",
    "Mode",
    "RecordedRequest",
    "closed_port_url",
    "grade_for",
]
