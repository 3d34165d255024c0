"""The IOC plugin's test kit: real MQTT peers for tests and benchmarks.

A Mosquitto broker on 127.0.0.1 and a ``mosquitto_sub`` reader.

With ``durable_sessions`` (the default) the broker keeps its sessions on disk (``persistence true``, saved
every second) so that a subscriber's persistent session and the messages queued for it survive a restart.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on 127.0.0.1:{port}") from None
            time.sleep(0.02)


class Broker:
    """A Mosquitto process; ``kill()`` is SIGKILL, ``start()`` brings it back on the same port and state."""

    def __init__(self, workdir: Path, port: int | None = None, extra: str = "", durable_sessions: bool = True,
                 in_order: bool = False) -> None:
        """``in_order``: one message in flight to each subscriber (``max_inflight_messages 1``), which is
        how Mosquitto guarantees in-order delivery; without it, messages restored from the broker's store
        after a restart can reach a subscriber after newer ones."""
        if shutil.which("mosquitto") is None:
            raise RuntimeError("mosquitto is not installed (Debian package 'mosquitto'; `make system-deps`)")
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o755)
        self.port = port or free_port()
        self.conf = self.dir / "mosquitto.conf"
        lines = [f"listener {self.port} 127.0.0.1", "allow_anonymous true", extra]
        if durable_sessions:
            lines += ["persistence true", f"persistence_location {self.dir}/", "autosave_interval 1",
                      "max_queued_messages 0", f"max_inflight_messages {1 if in_order else 0}"]
        if os.geteuid() == 0:
            lines.append("user root")
        self.conf.write_text("\n".join(lines) + "\n")
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = self.dir / "mosquitto.log"

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(["mosquitto", "-c", str(self.conf)], stdout=log, stderr=log)
        wait_port(self.port)

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
            self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
            self.proc = None


@dataclass
class Received:
    """What a subscriber saw: every message as (topic, payload dict), in arrival order."""

    messages: list[tuple[str, dict[str, object]]] = field(default_factory=list)
    bad_lines: int = 0

    def ids_by_lane(self, kind: str = "decision") -> dict[str, list[str]]:
        """First arrival of each id, per lane, in arrival order."""
        seen: set[str] = set()
        lanes: dict[str, list[str]] = {}
        for topic, payload in self.messages:
            if not topic.endswith("/" + kind):
                continue
            rid = str(payload["id"])
            if rid not in seen:
                seen.add(rid)
                lanes.setdefault(str(payload["lane"]), []).append(rid)
        return lanes

    def count(self, kind: str = "decision") -> int:
        return sum(1 for topic, _ in self.messages if topic.endswith("/" + kind))


class Subscriber:
    """``mosquitto_sub`` with a persistent session (QoS 1, fixed client id) writing straight to a file,
    so that the reader keeps up with the broker whatever the test process is doing."""

    def __init__(self, port: int, topic: str, out: Path, client_id: str = "ioc-test-sub") -> None:
        self.port, self.topic, self.out, self.client_id = port, topic, out, client_id
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        cmd = ["stdbuf", "-oL", "mosquitto_sub", "-h", "127.0.0.1", "-p", str(self.port), "-t", self.topic,
               "-q", "1", "-c", "-i", self.client_id, "-v", "-k", "5", "--nodelay"]
        with self.out.open("ab") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.DEVNULL)

    @property
    def received(self) -> Received:
        got = Received()
        with contextlib.suppress(FileNotFoundError), self.out.open("rb") as f:
            for line in f:
                if not line.endswith(b"\n"):
                    break  # being written
                topic, _, payload = line.decode().rstrip("\n").partition(" ")
                try:
                    got.messages.append((topic, json.loads(payload)))
                except json.JSONDecodeError:
                    got.bad_lines += 1
        return got

    def count(self, kind: str = "decision") -> int:
        return self.received.count(kind)

    def wait_unique(self, n: int, timeout: float, kind: str = "decision") -> bool:
        return self.wait(lambda r: sum(len(v) for v in r.ids_by_lane(kind).values()) >= n, timeout)

    def wait(self, predicate: Callable[[Received], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not predicate(self.received):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)
        return True

    def stop(self) -> Received:
        if self.proc is not None:
            self.proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=5)
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(timeout=5)
        return self.received


def probe_until_seen(sub: Subscriber, topic: str, timeout: float = 10.0) -> None:
    """Publish probes on ``topic`` until the subscriber prints one: it is connected and subscribed."""
    deadline = time.monotonic() + timeout
    payload = json.dumps({"id": "probe", "lane": "probe"})
    while True:
        subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(sub.port), "-t", topic, "-m", payload,
                        "-q", "1"], check=False, timeout=5, capture_output=True)
        if sub.count(topic.rsplit("/", 1)[-1]) > 0:
            return
        if time.monotonic() > deadline:
            raise TimeoutError("the subscriber never received a probe")
        time.sleep(0.1)
