"""The command line's progress for a long distributed run: films done, films/s and time left."""

from __future__ import annotations

import sys
import time


def duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"


class Progress:
    """One line on stderr: rewritten in place on a terminal, a new line every ``every`` seconds in a log.

    The rate counts only films scored by this run (not those a resumed run found done), so the
    time left is honest from the first chunk on.
    """

    def __init__(self, total: int, *, enabled: bool, every: float = 30.0) -> None:
        self.total, self.enabled, self.every = total, enabled, every
        self.tty = sys.stderr.isatty()
        self.done = 0
        self.started = time.perf_counter()
        self.shown = self.started

    def add(self, films: int) -> None:
        self.done += films
        now = time.perf_counter()
        if self.enabled and (self.tty or now - self.shown >= self.every or self.done == self.total):
            self.shown = now
            sys.stderr.write(("\r" if self.tty else "") + self.line(now) + ("" if self.tty else "\n"))
            sys.stderr.flush()

    def line(self, now: float) -> str:
        elapsed = max(now - self.started, 1e-9)
        rate = self.done / elapsed
        left = (self.total - self.done) / rate if rate > 0 else float("inf")
        eta = duration(left) if left != float("inf") else "?"
        return f"{self.done}/{self.total} films  {rate:.1f} films/s  ETA {eta}  "

    def close(self) -> None:
        if self.enabled and self.tty:
            sys.stderr.write("\n")
