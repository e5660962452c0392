"""One backoff per model endpoint, shared by every worker of the process.

A 429 or 5xx from an endpoint pauses every call to it: for the Retry-After the server asked
for, or an exponential wait when it gave none. After `breaker_after` failures in a row the
circuit breaker opens: every worker waits at least `breaker_wait` seconds, and listeners
(the run's progress line) are told "rate-limited by the model, waiting 30 s". The first
answer closes it again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

Listener = Callable[[str], None]

_registry_lock = threading.Lock()
_gates: dict[str, EndpointGate] = {}
_listeners: list[Listener] = []


def add_listener(listener: Listener) -> None:
    """`listener(message)` hears when a breaker opens or closes (e.g. the progress line)."""
    with _registry_lock:
        _listeners.append(listener)


def remove_listener(listener: Listener) -> None:
    with _registry_lock:
        if listener in _listeners:
            _listeners.remove(listener)


def _tell(message: str) -> None:
    with _registry_lock:
        listeners = list(_listeners)
    for listener in listeners:
        listener(message)


def gate_for(endpoint: str, breaker_after: int, breaker_wait: float) -> EndpointGate:
    """The process's one gate for `endpoint` (an API base URL, or the model's provider)."""
    with _registry_lock:
        gate = _gates.get(endpoint)
        if gate is None:
            gate = _gates[endpoint] = EndpointGate(endpoint, breaker_after, breaker_wait)
        return gate


class EndpointGate:
    def __init__(self, endpoint: str, breaker_after: int = 5, breaker_wait: float = 30.0):
        self.endpoint = endpoint
        self.breaker_after = breaker_after
        self.breaker_wait = breaker_wait
        self._lock = threading.Lock()
        self._paused_until = 0.0
        self.failures_in_a_row = 0
        self.breaker_open = False
        self.pauses = 0
        self.last_pause: tuple[float, float] | None = None  # (from, until), monotonic

    def wait_turn(self) -> float:
        """Blocks while the endpoint is paused (a pause may grow meanwhile); returns the
        seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                left = self._paused_until - time.monotonic()
            if left <= 0:
                return waited
            time.sleep(left)
            waited += left

    def failed(self, retry_after: float | None, fallback: float, status: int = 429) -> float:
        """Records a 429/5xx and pauses the endpoint; returns the pause in seconds."""
        message = ""
        with self._lock:
            self.failures_in_a_row += 1
            pause = retry_after if retry_after is not None else fallback
            if self.failures_in_a_row >= self.breaker_after:
                pause = max(pause, self.breaker_wait)
                if not self.breaker_open:
                    self.breaker_open = True
                    what = (
                        "rate-limited by the model" if status == 429
                        else f"the model keeps failing (HTTP {status})"
                    )
                    message = (
                        f"{what}: {self.failures_in_a_row} failures in a row at "
                        f"{self.endpoint}; every worker waits {pause:.0f} s"
                    )
            now = time.monotonic()
            until = now + pause
            if until > self._paused_until:
                self._paused_until = until
                self.pauses += 1
                self.last_pause = (now, until)
        if message:
            _tell(message)
        return pause

    def succeeded(self) -> None:
        message = ""
        with self._lock:
            self.failures_in_a_row = 0
            if self.breaker_open:
                self.breaker_open = False
                message = f"the model answers again at {self.endpoint}"
        if message:
            _tell(message)
