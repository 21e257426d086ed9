"""Chunks finish in any order; the CSV gets its rows in the serial run's order."""

from __future__ import annotations

from collections.abc import Iterator

from cxr_desktop.core.scoring import ScreeningRow


class InOrder:
    """Holds finished rows until every earlier film has one, then releases them in film order.

    The CSV on disk is thus always the serial run's rows minus a tail; an interrupted run adds the
    rows still held (``rest``), in order, so what a resumed run finds is in order too.
    """

    def __init__(self, total: int, earlier: dict[int, ScreeningRow]) -> None:
        self.total = total
        self.held = dict(earlier)
        self.next = 0

    def put(self, index: int, row: ScreeningRow) -> None:
        self.held.setdefault(index, row)

    def ready(self) -> Iterator[tuple[int, ScreeningRow]]:
        while self.next in self.held:
            index = self.next
            self.next += 1
            yield index, self.held.pop(index)

    def rest(self) -> Iterator[tuple[int, ScreeningRow]]:
        for index in sorted(self.held):
            yield index, self.held.pop(index)
