"""A stack of context values per thread: what one thread opens while it binds a model (the
kernels its selection allows, the scratch its kernels carve, a study forcing its trials) is
not seen by another thread binding another model at the same time (a sweep's worker threads)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

T = TypeVar("T")


class ThreadStack(Generic[T]):
    """Values pushed for the length of a `with` block, innermost on top, one stack per
    thread."""

    def __init__(self) -> None:
        self._local = threading.local()

    def _items(self) -> list[T]:
        items: list[T] | None = getattr(self._local, "items", None)
        if items is None:
            items = self._local.items = []
        return items

    @contextmanager
    def pushed(self, value: T) -> Iterator[T]:
        items = self._items()
        items.append(value)
        try:
            yield value
        finally:
            items.pop()

    def top(self) -> T | None:
        """The innermost value this thread pushed, or None outside every block."""
        items = self._items()
        return items[-1] if items else None
