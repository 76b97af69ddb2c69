"""Stopping a run on purpose: SIGINT or SIGTERM, once to drain, twice to stop at once.

The first signal stops taking new files; uploads and batches already under way finish, for at
most `engine.drain_timeout` seconds, and the run does not wait for Procore's processing (the
next run checks it). A second signal cancels whatever is left at once. Either way the journal
has the state, and the same command resumes.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass, field

import anyio
import structlog

log = structlog.get_logger("bulkimport.run")


@dataclass(slots=True)
class Stop:
    requested: anyio.Event = field(default_factory=anyio.Event)
    forced: bool = False

    @property
    def stopping(self) -> bool:
        return self.requested.is_set()


async def watch_signals(stop: Stop, work: anyio.CancelScope, drain_timeout: float) -> None:
    """Runs until cancelled; turns signals into a drain, then a cancellation of `work`."""
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for signum in signals:
            name = signal.Signals(signum).name
            if not stop.stopping:
                stop.requested.set()
                work.deadline = min(work.deadline, anyio.current_time() + drain_timeout)
                log.warning(
                    "run.stopping",
                    signal=name,
                    drain_timeout_s=drain_timeout,
                    hint="finishing the uploads and batches under way; signal again to stop now",
                )
            else:
                stop.forced = True
                log.warning(
                    "run.stopped", signal=name, hint="the next run resumes from the journal"
                )
                work.cancel()
