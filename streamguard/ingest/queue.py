"""A small bounded queue from a decoding thread to an asyncio consumer.

Live video wants freshness: when analysis falls behind, the oldest pending frame is dropped (and counted)
so the consumer always gets the newest ones. Offline replays want completeness: the producer thread blocks
until there is room (backpressure), so every sample is analysed.
"""

from __future__ import annotations

import asyncio
import collections
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from streamguard.errors import StreamguardError

T = TypeVar("T")

DROP_ANALYSIS_BEHIND = "analysis_behind"
# How often a blocked producer re-checks for close(); close() also wakes it at once.
_PUT_POLL_S = 0.5


class QueueClosed(StreamguardError):
    """The queue was closed and has nothing left to deliver."""


class LatestQueue(Generic[T]):
    """Bounded queue fed from any thread and read by one asyncio task.

    Args:
        maxsize: Capacity (>= 1).
        drop_oldest: When full, drop the oldest item (``True``, live streams) or block the producer until the
            consumer makes room (``False``, backpressure for offline replay).
        on_drop: Called with each dropped item and the drop reason, in the producer's thread, outside the
            queue's lock.
        keep: Items for which it returns true are never dropped (markers such as a stream's outage); a full
            queue of them grows by the new item instead.

    Raises:
        ValueError: When `maxsize` is below 1.
    """

    def __init__(
        self,
        maxsize: int,
        *,
        drop_oldest: bool = True,
        on_drop: Callable[[T, str], None] | None = None,
        keep: Callable[[T], bool] | None = None,
    ) -> None:
        if maxsize < 1:
            raise ValueError(f"maxsize must be >= 1, got {maxsize}")
        self.maxsize = maxsize
        self.drop_oldest = drop_oldest
        self._on_drop = on_drop
        self._keep = keep
        self._items: collections.deque[T] = collections.deque()
        self._lock = threading.Lock()
        self._not_full = threading.Condition(self._lock)
        self._waiters: list[asyncio.Future[None]] = []
        self._closed = False
        self._dropped = 0

    @property
    def dropped(self) -> int:
        """How many items were dropped because the queue was full."""
        return self._dropped

    @property
    def closed(self) -> bool:
        """Whether `close` was called."""
        return self._closed

    def qsize(self) -> int:
        """Items waiting to be read."""
        return len(self._items)

    def put(self, item: T) -> bool:
        """Add `item` from any thread; may drop the oldest item or block, depending on `drop_oldest`.

        A blocking put never runs on the event loop's thread in practice: blocking mode is for decode threads.

        Returns:
            ``False`` when the queue is closed (the item is discarded), else ``True``.
        """
        dropped: list[T] = []
        with self._lock:
            if not self._wait_for_room_locked():
                return False
            if len(self._items) >= self.maxsize:
                dropped.extend(self._drop_oldest_locked())
            self._items.append(item)
            waiters, self._waiters = self._waiters, []
        _wake(waiters)
        if dropped and self._on_drop is not None:
            self._on_drop(dropped[0], DROP_ANALYSIS_BEHIND)
        return True

    async def get(self) -> T:
        """Wait for the next item.

        Raises:
            QueueClosed: When the queue is closed and empty.
        """
        loop = asyncio.get_running_loop()
        while True:
            with self._lock:
                if self._items:
                    item = self._items.popleft()
                    self._not_full.notify()
                    return item
                if self._closed:
                    raise QueueClosed("queue closed")
                waiter: asyncio.Future[None] = loop.create_future()
                self._waiters.append(waiter)
            try:
                await waiter
            finally:
                with self._lock:
                    if waiter in self._waiters:
                        self._waiters.remove(waiter)

    def close(self, *, discard: bool = False) -> None:
        """Close from any thread: producers stop, readers get what is left (nothing if `discard`), then end."""
        with self._lock:
            self._closed = True
            if discard:
                self._items.clear()
            self._not_full.notify_all()
            waiters, self._waiters = self._waiters, []
        _wake(waiters)

    def _drop_oldest_locked(self) -> list[T]:
        for index, item in enumerate(self._items):
            if self._keep is None or not self._keep(item):
                del self._items[index]
                self._dropped += 1
                return [item]
        return []

    def _wait_for_room_locked(self) -> bool:
        while not self._closed and not self.drop_oldest and len(self._items) >= self.maxsize:
            self._not_full.wait(_PUT_POLL_S)
        return not self._closed


def _wake(waiters: list[asyncio.Future[None]]) -> None:
    for waiter in waiters:
        loop = waiter.get_loop()
        if loop.is_closed():
            continue
        try:
            loop.call_soon_threadsafe(_resolve, waiter)
        except RuntimeError:  # the loop closed between the check and the call
            continue


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
