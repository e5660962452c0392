"""`--executor local`: units on a thread pool of this process, `units_at_once` at a time.

Worker threads only report: their events go through a queue to the calling (driver) thread,
which alone hands them to the runner to commit."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from harness.agents.base import Agent
from harness.executors.base import Event, SandboxFactory, Unit
from harness.executors.unit import UnitWorker


class LocalExecutor:
    def __init__(self, agent: Agent, sandboxes: SandboxFactory) -> None:
        self.agent = agent
        self.sandboxes = sandboxes

    def execute(
        self,
        units: list[Unit],
        deliver: Callable[[Event], None],
        stop: threading.Event,
        units_at_once: int,
    ) -> None:
        events: queue.Queue[Event] = queue.Queue()

        def work(unit: Unit) -> None:
            if not stop.is_set():
                UnitWorker(self.agent, self.sandboxes, unit, events.put, stop.is_set).run()

        with ThreadPoolExecutor(max(1, units_at_once), thread_name_prefix="unit") as pool:
            futures: list[Future[None]] = [pool.submit(work, unit) for unit in units]
            try:
                _drain(events, futures, deliver)
            except KeyboardInterrupt:
                # Commit what the attempts in flight still report, then say we were stopped.
                stop.set()
                for future in futures:
                    future.cancel()
                _drain(events, futures, deliver)
                raise
            for future in futures:
                future.result()  # a bug in the worker itself surfaces here


    def close(self) -> None:
        pass


def _drain(
    events: queue.Queue[Event], futures: list[Future[None]], deliver: Callable[[Event], None]
) -> None:
    while True:
        try:
            deliver(events.get(timeout=0.2))
            continue
        except queue.Empty:
            pass
        if all(future.done() for future in futures):
            break
    while not events.empty():
        deliver(events.get_nowait())
