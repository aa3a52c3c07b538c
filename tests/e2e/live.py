"""Real service processes for end-to-end tests: ``creditgate serve`` on free ports.

The processes share the test's database and key file, so tokens issued and data
registered in-process are valid for them, exactly as for several stateless
service processes behind a load balancer.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from service.config import Settings


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def service_environment(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment of a service process on ``settings``' database and keys."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDITGATE_")}
    env.update({
        "CREDITGATE_DATA_DIR": str(settings.data_dir),
        "CREDITGATE_DATABASE_URL": settings.database_url,
        "CREDITGATE_KEY_FILE": str(settings.key_file),
        "CREDITGATE_LOG_LEVEL": "WARNING",
    })
    env.update(extra)
    return env


@dataclass
class LiveServer:
    """One ``creditgate serve`` process; ``url`` is its base address."""

    settings: Settings
    port: int = field(default_factory=free_port)
    workers: int = 1
    env_extra: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90) -> LiveServer:
        """Start the process and wait until ``/health`` answers 200."""
        env = service_environment(self.settings, CREDITGATE_ISSUER=self.settings.issuer, **self.env_extra)
        self.log_path = self.settings.data_dir / f"server-{self.port}.log"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "service.cli.main", "serve", "--port", str(self.port),
             "--workers", str(self.workers)],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited with {self.process.returncode}: {self.log_tail()}")
            try:
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"server did not become ready: {self.log_tail()}")

    def kill(self) -> None:
        """``kill -9`` the server and all its workers, as a crash would."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        """Stop the server cleanly (SIGTERM), or kill it if it will not stop."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()

    def log_tail(self, lines: int = 30) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


@contextmanager
def live_servers(settings: Settings, count: int = 1, *, workers: int = 1) -> Iterator[list[LiveServer]]:
    """``count`` separate service processes on one database, stopped afterwards."""
    servers = [LiveServer(settings, workers=workers) for _ in range(count)]
    try:
        for server in servers:
            server.start()
        yield servers
    finally:
        for server in servers:
            server.stop()
