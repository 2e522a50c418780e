"""Many API clients waiting on a slow LLM at once, under the production server (`make serve`'s
deploy/serve.sh: uvicorn, DEBUG off, WEB_CONCURRENCY workers).

Used by benchmarks/grading.py (`--clients 64 256`). C clients each post `rounds` distinct answers one after
the other and wait for each grade; the loopback LLM answers after `latency` with C slots, so the most any
server could give is C / latency grades a second (limit_rps). Every answer is read and checked (200, graded
by the LLM); a request that got no answer or another status counts as failed.

The load generator shares the machine's cores with the server, so it is a small raw HTTP/1.1 client (one
keep-alive connection per client, asyncio streams) rather than a general-purpose one. Where the CPU went is
reported too: the server's processes, this process (load generator and LLM server) and the database server,
in CPU milliseconds per grade, next to how busy the whole machine was (other work included).
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from benchmarks.grading import BODY
from benchmarks.llm_throughput import SlottedOllamaServer, result_line

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
REQUEST_TIMEOUT = 120  # seconds a client waits for one answer before counting it as failed


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _manage(env: dict[str, str], *args: str) -> str:
    run = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    return run.stdout


# --- CPU accounting from /proc ------------------------------------------------------------------------------


def _process_cpu(pid: int, *, reaped: bool = False) -> float:
    """CPU seconds (user + system) a process has used so far, with `reaped` its children's that have ended
    (PostgreSQL's connections are processes that end with them); 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = int(fields[11]) + int(fields[12]) + (int(fields[13]) + int(fields[14]) if reaped else 0)
    return ticks / CLOCK_TICKS


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def _tree(pid: int) -> list[int]:
    pids, stack = [], [pid]
    while stack:
        current = stack.pop()
        pids.append(current)
        stack.extend(_children(current))
    return pids


def _postgres_pids() -> list[int]:
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if stat.read_text().split(" ", 2)[1] == "(postgres)":
                pids.append(int(stat.parent.name))
        except OSError:
            continue
    return pids


def _machine_busy() -> tuple[float, float]:
    """(busy CPU seconds, all CPU seconds) of the whole machine so far."""
    values = [int(value) for value in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values[:8]) - idle) / CLOCK_TICKS, sum(values[:8]) / CLOCK_TICKS


@dataclass
class CpuSnapshot:
    server: dict[int, float]
    database: dict[int, float]
    own: float
    machine: tuple[float, float]

    @classmethod
    def take(cls, server_pid: int, *, database: bool) -> CpuSnapshot:
        times = os.times()
        return cls(
            server={pid: _process_cpu(pid) for pid in _tree(server_pid)},
            database={pid: _process_cpu(pid, reaped=True) for pid in _postgres_pids()} if database else {},
            own=times.user + times.system,
            machine=_machine_busy(),
        )

    def since(self, before: CpuSnapshot) -> dict[str, float]:
        """CPU seconds used between two snapshots: server, own (load generator + LLM), database; busy cores."""

        def spent(now: dict[int, float], then: dict[int, float]) -> float:
            return sum(value - then.get(pid, 0.0) for pid, value in now.items())

        busy, total = (now - then for now, then in zip(self.machine, before.machine, strict=True))
        return {
            "server": spent(self.server, before.server),
            "own": self.own - before.own,
            "database": spent(self.database, before.database),
            "machine_busy_share": busy / total if total else 0.0,
        }


# --- the load ----------------------------------------------------------------------------------------------


class HttpConnection:
    """One keep-alive HTTP/1.1 connection: POST a JSON body, read the status and the whole body."""

    def __init__(self, host: str, port: int, key: str) -> None:
        self.host, self.port = host, port
        self.head = (
            f"Host: {host}:{port}\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\n"
            # As the TLS-terminating proxy in front of a production server says (uvicorn trusts it from loopback).
            "X-Forwarded-Proto: https\r\nConnection: keep-alive\r\n"
        )
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        if self.writer is None or self.writer.is_closing():
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(f"POST {path} HTTP/1.1\r\n{self.head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("the server closed the connection without answering")
        status, headers = int(status_line.split()[1]), {}
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip().lower()
        if headers.get("transfer-encoding") == "chunked":
            payload = b""
            while size := int((await self.reader.readline()).split(b";")[0], 16):
                payload += (await self.reader.readexactly(size + 2))[:-2]
            await self.reader.readline()  # the empty line after the last chunk
        else:
            payload = await self.reader.readexactly(int(headers.get("content-length", 0)))
        if headers.get("connection") == "close":
            await self.close()
        return status, payload

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except OSError:
                pass
            self.writer = None


@dataclass
class LoadOutcome:
    graded: int
    failed: int
    seconds: float
    problems: list[str]


async def _load(port: int, key: str, *, clients: int, rounds: int, tag: str) -> LoadOutcome:
    """Each client posts `rounds` distinct answers one after the other on its own connection."""
    problems: list[str] = []

    async def client(number: int) -> tuple[int, int]:
        connection = HttpConnection("127.0.0.1", port, key)
        done = failed = 0
        try:
            for turn in range(rounds):
                body = json.dumps({**BODY, "answer": f"{BODY['answer']} ({tag} client {number}, turn {turn})"})
                try:
                    status, payload = await asyncio.wait_for(
                        connection.post("/api/v1/evaluations", body.encode()), REQUEST_TIMEOUT
                    )
                except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError, IndexError) as exc:
                    failed += 1  # counted, not fatal: the figure says how many never got an answer
                    problems.append(f"{type(exc).__name__}: {exc}")
                    await connection.close()
                    continue
                source = json.loads(payload).get("source") if status == 200 else None
                if source != "llm":
                    failed += 1
                    problems.append(f"HTTP {status}, source {source!r}: {payload[:200]!r}")
                    continue
                done += 1
        finally:
            await connection.close()
        return done, failed

    started = time.perf_counter()
    counts = await asyncio.gather(*(client(n) for n in range(clients)))
    seconds = time.perf_counter() - started
    return LoadOutcome(sum(d for d, _ in counts), sum(f for _, f in counts), seconds, problems)


# --- the run -----------------------------------------------------------------------------------------------


def _server_env(workdir: Path, database_url: str, llm_url: str, port: int) -> dict[str, str]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "ready4hire.settings",
        # Production settings: with DEBUG on, Django keeps every query's SQL text, which production never pays.
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DATABASE_URL": database_url,
        "LLM_BACKEND": "ollama",
        "LLM_BASE_URL": llm_url,
        "LLM_MODEL": "llama3.2:3b",
        "LLM_TIMEOUT": "60",
        "LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "ERROR"),
        "API_RATE_LIMIT": "",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "PROMETHEUS_MULTIPROC_DIR": str(workdir / "metrics"),
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        # One uvicorn process unless told otherwise: several processes writing one SQLite file wait on its
        # lock, which is what PostgreSQL is for (`--database postgres`, WEB_CONCURRENCY=2 as `make serve`).
        "WEB_CONCURRENCY": os.environ.get("WEB_CONCURRENCY", "1"),
    }
    env.pop("CELERY_BROKER_URL", None)
    return env


def api_run(*, clients: int, latency_ms: int, rounds: int, database_url: str = "") -> float:
    """Run the API concurrency scenario once; print its RESULT line and return the ratio. `database_url`:
    the (empty, existing) database to use; a fresh SQLite file by default."""
    latency = latency_ms / 1000
    llm = SlottedOllamaServer(latency=latency, slots=clients).start()
    workdir = Path(tempfile.mkdtemp(prefix="r4h-api-bench-"))
    port = _free_port()
    database_url = database_url or f"sqlite:///{workdir / 'api.sqlite3'}"
    postgres = database_url.startswith("postgres")
    env = _server_env(workdir, database_url, llm.base_url, port)
    _manage(env, "migrate", "--verbosity", "0")
    key = _manage(env, "create_api_key", "api-bench").strip().splitlines()[-1]
    server = subprocess.Popen(["sh", str(ROOT / "deploy" / "serve.sh")], cwd=ROOT, env=env)
    try:
        for _ in range(300):
            try:
                httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        warm = asyncio.run(_load(port, key, clients=4, rounds=2, tag="warm-up"))  # imports, first connections
        assert warm.failed == 0, warm.problems[:3]
        before = CpuSnapshot.take(server.pid, database=postgres)
        outcome = asyncio.run(_load(port, key, clients=clients, rounds=rounds, tag="timed"))
        cpu = CpuSnapshot.take(server.pid, database=postgres).since(before)
    finally:
        server.terminate()
        server.wait(timeout=60)
        llm.stop()
    rps, limit_rps = outcome.graded / outcome.seconds, clients / latency
    workers = env["WEB_CONCURRENCY"]
    per_grade = {
        name: 1000 * seconds / max(outcome.graded, 1) for name, seconds in cpu.items() if name != "machine_busy_share"
    }
    cores = os.cpu_count() or 1
    print(
        f"api: {clients} clients × {rounds} grades, LLM {latency_ms} ms with {clients} slots, {workers} workers, "
        f"{'PostgreSQL' if postgres else 'SQLite'}:"
    )
    print(f"     {outcome.graded} grades in {outcome.seconds:.2f} s; {outcome.failed} requests failed")
    for problem in sorted(set(outcome.problems))[:5]:
        print(f"     failed: {problem}")
    print(
        f"     CPU ms per grade: server {per_grade['server']:.1f}, load generator + LLM {per_grade['own']:.1f}"
        + (f", PostgreSQL {per_grade['database']:.1f}" if postgres else "")
        + f"; the machine's {cores} cores were {100 * cpu['machine_busy_share']:.0f}% busy (other work included)"
    )
    print(
        result_line(
            "api",
            clients=clients,
            latency_ms=latency_ms,
            workers=workers,
            database="postgres" if postgres else "sqlite",
            failed=outcome.failed,
            rps=f"{rps:.1f}",
            limit_rps=f"{limit_rps:.1f}",
            ratio=f"{rps / limit_rps:.3f}",
            server_cpu_ms=f"{per_grade['server']:.1f}",
            client_cpu_ms=f"{per_grade['own']:.1f}",
            **({"database_cpu_ms": f"{per_grade['database']:.1f}"} if postgres else {}),
            machine_busy=f"{cpu['machine_busy_share']:.2f}",
        )
    )
    return rps / limit_rps
