"""When `lab sweep` saves its rolling resume checkpoint: every `train.resume_every` seconds of wall clock, and
at once on SIGTERM (the signal schedulers send before they preempt), after which the sweep stops.

    with Preemption(interval_s) as when:
        ... run_chunks(..., want_state=when.want_state) ...; when.saved() after each save
        if when.stopping: raise Preempted(...)

On several processes every decision is process 0's, broadcast, so that all of them save the same chunk.
"""

from __future__ import annotations

import signal
import threading
import time

import jax
import numpy as np

from lab.errors import Preempted

__all__ = ["Preempted", "Preemption"]


class Preemption:
    """The resume-checkpoint clock and the SIGTERM flag of one sweep (a context: it holds the signal handler)."""

    def __init__(self, interval_s: float):
        self.interval_s, self.stopping = float(interval_s), False
        self._last, self._previous = time.monotonic(), None

    def __enter__(self) -> "Preemption":
        if threading.current_thread() is threading.main_thread():  # signals reach only the main thread
            self._previous = signal.signal(signal.SIGTERM, self._on_sigterm)
        return self

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)

    def _on_sigterm(self, signum, frame) -> None:
        self.stopping = True

    def want_state(self, step: int) -> bool:
        """Whether to save a resume checkpoint at the end of this chunk (the same answer on every process)."""
        due = self.stopping or (self.interval_s > 0 and time.monotonic() - self._last >= self.interval_s)
        if jax.process_count() > 1:
            from jax.experimental import multihost_utils

            due_stop = multihost_utils.broadcast_one_to_all(np.array([due, self.stopping], np.int32))
            due, self.stopping = bool(due_stop[0]), bool(due_stop[1])  # process 0's clock and signal
        return due

    def saved(self) -> None:
        """A checkpoint (resume or analysis) was just written: the interval starts again."""
        self._last = time.monotonic()
