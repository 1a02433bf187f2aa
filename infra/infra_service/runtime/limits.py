"""The wall-time limit inside the guest: wasmtime epoch interruption driven by a ticker thread."""

import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from wasmtime import Engine

TICK_SECONDS = 0.01


class EpochTicker:
    """Advances the engine's epoch every tick while an invocation runs, and sleeps otherwise.

    A store's deadline is a number of ticks from now; a guest still running when it passes
    traps with `interrupt` at its next loop back-edge or call, host calls aside.
    """

    def __init__(self, engine: Engine, *, tick: float = TICK_SECONDS) -> None:
        self._engine = engine
        self._tick = tick
        self._active = 0
        self._stopped = False
        self._wake = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="epoch-ticker", daemon=True)
        self._thread.start()

    def ticks_for(self, seconds: float) -> int:
        return max(1, math.ceil(seconds / self._tick)) + 1

    @contextmanager
    def running(self) -> Iterator[None]:
        """Count one invocation in flight for as long as the block runs."""
        with self._wake:
            self._active += 1
            self._wake.notify()
        try:
            yield
        finally:
            with self._wake:
                self._active -= 1

    def stop(self) -> None:
        with self._wake:
            self._stopped = True
            self._wake.notify()
        self._thread.join(timeout=1)

    def _run(self) -> None:
        origin, ticks = time.monotonic(), 0
        while True:
            with self._wake:
                # Idle replicas cost no wake-ups: wait until something runs.
                if self._active == 0 and not self._stopped:
                    while self._active == 0 and not self._stopped:
                        self._wake.wait()
                    origin, ticks = time.monotonic(), 0
                if self._stopped:
                    return
            time.sleep(self._tick)
            # Count ticks by the clock, not by wake-ups: on a busy machine a sleep overruns,
            # and an epoch that lagged the clock would stretch every time limit.
            due = int((time.monotonic() - origin) / self._tick)
            for _ in range(due - ticks):
                self._engine.increment_epoch()
            ticks = max(ticks, due)
