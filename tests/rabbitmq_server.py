"""A private RabbitMQ for integration tests: own loopback ports, own data directory, own node name.

Started from the Debian ``rabbitmq-server`` package (``scripts/install-test-deps.sh``), never the
system service. The Debian wrapper drops to the ``rabbitmq`` user, so the directories given to it
belong to that user. When the environment says ``CI=true`` a server that cannot start fails the
test instead of skipping it.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest


def program(name: str) -> str | None:
    """The path of a server program: on PATH, or in /usr/sbin where Debian puts RabbitMQ's."""
    found = shutil.which(name)
    if found is None and os.access(f"/usr/sbin/{name}", os.X_OK):
        found = f"/usr/sbin/{name}"
    return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def unavailable(reason: str) -> None:
    """Skip, or fail under CI, when a real server cannot be had."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason)
    pytest.skip(reason)


class RabbitServer:
    """One RabbitMQ node; :meth:`start`, :meth:`stop` and start again keeps its queues."""

    def __init__(self, base: Path):
        self.base = base
        self.port = free_port()
        self.dist_port = free_port()
        self.node = f"stackmeter{self.port}@localhost"
        self.url = f"amqp://guest:guest@127.0.0.1:{self.port}//"
        self._process: subprocess.Popen | None = None
        base.mkdir(parents=True, exist_ok=True)
        for name in ("mnesia", "log"):
            (base / name).mkdir(exist_ok=True)
        (base / "enabled_plugins").write_text("[].\n")
        self._env = {
            **os.environ,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(base / "log"),
            "RABBITMQ_FEATURE_FLAGS_FILE": str(base / "feature_flags"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
            "RABBITMQ_PID_FILE": str(base / "rabbit.pid"),
            "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq"),
        }
        (base / "rabbitmq.conf").write_text(
            "loopback_users = none\nvm_memory_high_watermark.relative = 0.6\n"
        )
        if os.geteuid() == 0:
            user = pwd.getpwnam("rabbitmq")
            for path in [base, *base.rglob("*")]:
                os.chown(path, user.pw_uid, user.pw_gid)
            # the wrapper runs the node as ``rabbitmq``: it must be able to reach the directory
            for parent in base.parents:
                if parent == Path("/"):
                    break
                parent.chmod(parent.stat().st_mode | 0o011)

    def start(self, timeout_s: float = 60) -> None:
        log = (self.base / "server.out").open("ab")
        self._process = subprocess.Popen(
            [program("rabbitmq-server") or "rabbitmq-server"],
            env=self._env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"rabbitmq-server exited with {self._process.returncode}: {self.tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"rabbitmq-server not accepting on {self.port} after {timeout_s} s: {self.tail()}")

    def stop(self) -> None:
        if self._process is None:
            return
        subprocess.run(
            [program("rabbitmqctl") or "rabbitmqctl", "-n", self.node, "stop"],
            env=self._env,
            capture_output=True,
            timeout=60,
            check=False,
        )
        try:
            self._process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self._process.pid, 9)
            self._process.wait(timeout=10)
        self._process = None

    def remove(self) -> None:
        """Stop the node and delete its directory."""
        self.stop()
        shutil.rmtree(self.base.parent, ignore_errors=True)

    def tail(self) -> str:
        path = self.base / "server.out"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""


def start_rabbit() -> RabbitServer:
    """Start a node in a fresh directory of its own (pytest's temporary folders are private to
    root, and the node runs as ``rabbitmq``); :meth:`RabbitServer.remove` deletes it."""
    if program("rabbitmq-server") is None:
        unavailable("rabbitmq-server is not installed (scripts/install-test-deps.sh installs it)")
    server = RabbitServer(Path(tempfile.mkdtemp(prefix="stackmeter-rabbit-")) / "node")
    try:
        server.start()
    except (RuntimeError, OSError) as exc:
        server.remove()
        unavailable(f"cannot start rabbitmq-server: {exc}")
    return server
