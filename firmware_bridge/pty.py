"""A null-modem cable between two pseudo-terminals: two serial ports, each with a path, wired together.

Used to run a serial peer (a pymodbus RTU server, say) and a client that both open a port by path.
``corrupt`` flips one random bit in that fraction of the bytes, in both directions.
"""

from __future__ import annotations

import os
import random
import select
import threading
import tty


class NullModem:
    def __init__(self, corrupt: float = 0.0, seed: int = 0) -> None:
        self._a_master, self._a_slave = os.openpty()
        self._b_master, self._b_slave = os.openpty()
        for fd in (self._a_slave, self._b_slave):
            tty.setraw(fd)
        self.path_a = os.ttyname(self._a_slave)
        self.path_b = os.ttyname(self._b_slave)
        self.corrupt = corrupt
        self.corrupted_bytes = 0
        self._rng = random.Random(seed)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._pump, name="null-modem", daemon=True)
        self._thread.start()

    def _mangle(self, data: bytes) -> bytes:
        if not self.corrupt:
            return data
        out = bytearray(data)
        for i in range(len(out)):
            if self._rng.random() < self.corrupt:
                out[i] ^= 1 << self._rng.randrange(8)
                self.corrupted_bytes += 1
        return bytes(out)

    def _pump(self) -> None:
        peer = {self._a_master: self._b_master, self._b_master: self._a_master}
        while not self._stop.is_set():
            ready, _, _ = select.select(list(peer), [], [], 0.05)
            for fd in ready:
                try:
                    data = os.read(fd, 4096)
                    os.write(peer[fd], self._mangle(data))
                except OSError:
                    continue

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        for fd in (self._a_master, self._a_slave, self._b_master, self._b_slave):
            os.close(fd)
