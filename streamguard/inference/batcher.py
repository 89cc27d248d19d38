"""A micro-batcher shared by all streams: size-or-deadline flush, processing in a worker thread.

Callers `await batcher.submit(item)` from the event loop. Items are collected in arrival order and handed to
`process` in batches of at most `max_batch`, flushed when the batch is full or `max_delay_s` after its first
item arrived, whichever comes first. `process` runs in an executor thread (one batch at a time), so the
event loop never blocks on the model and answers come back in submit order.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from streamguard.errors import StreamguardError

logger = logging.getLogger(__name__)

InT = TypeVar("InT")
OutT = TypeVar("OutT")


class BatcherClosedError(StreamguardError):
    """An item was submitted to a batcher that is closing or closed."""


class BatchSizeMismatchError(StreamguardError):
    """`process` returned a different number of results than the batch had items."""


def is_out_of_memory(error: BaseException) -> bool:
    """Whether `error` means the accelerator (or host) ran out of memory for this batch size.

    Matches `MemoryError` and any exception whose class name contains ``OutOfMemory`` (for example
    `torch.cuda.OutOfMemoryError`), so this module does not need to import torch.
    """
    return isinstance(error, MemoryError) or any("OutOfMemory" in cls.__name__ for cls in type(error).__mro__)


@dataclass(slots=True)
class _Pending(Generic[InT, OutT]):
    item: InT
    future: asyncio.Future[OutT] = field(repr=False)
    enqueued_at: float


class MicroBatcher(Generic[InT, OutT]):
    """Groups single-item requests into batches for a batch function that runs in a worker thread.

    Guarantees:
        * every submitted item is answered exactly once (its result, or the exception of its batch);
        * answers come back in submit order (batches are processed one at a time, first in first out), so
          the order of each stream's items is kept;
        * a batch never holds more than `max_batch` items;
        * a failing batch fails only its own items; later batches are unaffected;
        * an out-of-memory failure (see `is_out_of_memory`) halves `max_batch` (down to 1) for all later
          batches and retries the failed batch's items once, split in two halves; an item of a half that
          fails again gets that half's exception;
        * a caller cancelled while its item is still queued removes the item (it is never processed);
          cancelled while its batch runs, its result is dropped; other items are unaffected;
        * `close` answers every item already submitted, then stops.

    Args:
        process: Batch function, called from the executor thread with a list of items; returns one
            result per item, in the same order.
        max_batch: Largest batch (>= 1).
        max_delay_s: Longest time the first item of a batch waits for the batch to fill (>= 0).
        executor: Where `process` runs. Default: a private single-thread executor, shut down by `close`.
            A given executor is not shut down by the batcher.
        on_batch: Called on the event loop after each successful `process` call with the batch size and
            the seconds `process` took (measured in the worker thread), e.g. to feed metrics.
    """

    def __init__(
        self,
        process: Callable[[Sequence[InT]], Sequence[OutT]],
        *,
        max_batch: int = 8,
        max_delay_s: float = 0.01,
        executor: concurrent.futures.Executor | None = None,
        on_batch: Callable[[int, float], None] | None = None,
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        if max_delay_s < 0:
            raise ValueError(f"max_delay_s must be >= 0, got {max_delay_s}")
        self._process = process
        self._max_batch = max_batch
        self._max_delay_s = max_delay_s
        self._owns_executor = executor is None
        self._executor = executor or concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="streamguard-inference"
        )
        self._on_batch = on_batch
        self._queue: deque[_Pending[InT, OutT]] = deque()
        self._in_flight = 0
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    @property
    def max_batch(self) -> int:
        """Current largest batch; lowered by out-of-memory failures."""
        return self._max_batch

    @property
    def max_delay_s(self) -> float:
        """Longest wait of a batch's first item before the batch is flushed."""
        return self._max_delay_s

    @property
    def pending(self) -> int:
        """Items submitted but not yet handed to `process` (the queue depth)."""
        return len(self._queue)

    @property
    def in_flight(self) -> int:
        """Items in the batch `process` is working on now."""
        return self._in_flight

    @property
    def closed(self) -> bool:
        """Whether `close` was called; new submissions are refused."""
        return self._closing

    async def start(self) -> None:
        """Start the collector task on the running loop. Idempotent."""
        if self._closing:
            raise BatcherClosedError("the batcher is closed")
        if self._task is None:
            self._wakeup = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._run(), name="streamguard-batcher")

    async def submit(self, item: InT) -> OutT:
        """Queue one item and wait for its result; starts the batcher on first use.

        Raises:
            BatcherClosedError: The batcher is closing or closed.
            Exception: Whatever `process` raised for this item's batch.
        """
        if self._closing:
            raise BatcherClosedError("the batcher is closed")
        await self.start()
        loop = asyncio.get_running_loop()
        entry: _Pending[InT, OutT] = _Pending(item, loop.create_future(), loop.time())
        self._queue.append(entry)
        self._wake()
        try:
            return await entry.future
        except asyncio.CancelledError:
            with contextlib.suppress(ValueError):  # already handed to `process`: its result is dropped
                self._queue.remove(entry)
            raise

    async def close(self) -> None:
        """Refuse new items, answer every queued one (flushing without waiting for deadlines), then stop.

        Idempotent. Shuts down the private executor, if the batcher created one.
        """
        self._closing = True
        self._wake()
        if self._task is not None:
            await asyncio.shield(self._task)
        if self._owns_executor:
            self._executor.shutdown(wait=False)

    def _wake(self) -> None:
        if self._wakeup is not None:
            self._wakeup.set()

    async def _run(self) -> None:
        try:
            while await self._wait_for_first_item():
                await self._wait_for_deadline_or_full()
                batch = self._take_batch()
                if batch:
                    await self._dispatch(batch)
        finally:
            # Only reached with items left if this task was cancelled or crashed: never leave callers hanging.
            self._fail_all(BatcherClosedError("the batcher stopped"))

    async def _wait_for_first_item(self) -> bool:
        """Wait until an item is queued; False when closing with nothing left to answer."""
        assert self._wakeup is not None  # noqa: S101 (set by start before the task exists)
        while not self._queue:
            if self._closing:
                return False
            self._wakeup.clear()
            await self._wakeup.wait()
        return True

    async def _wait_for_deadline_or_full(self) -> None:
        assert self._wakeup is not None  # noqa: S101 (set by start before the task exists)
        loop = asyncio.get_running_loop()
        while self._queue and len(self._queue) < self._max_batch and not self._closing:
            remaining = self._queue[0].enqueued_at + self._max_delay_s - loop.time()
            if remaining <= 0:
                return
            self._wakeup.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await self._wakeup.wait()

    def _take_batch(self) -> list[_Pending[InT, OutT]]:
        batch: list[_Pending[InT, OutT]] = []
        while self._queue and len(batch) < self._max_batch:
            entry = self._queue.popleft()
            if not entry.future.done():
                batch.append(entry)
        return batch

    async def _dispatch(self, batch: list[_Pending[InT, OutT]]) -> None:
        self._in_flight = len(batch)
        try:
            error = await self._run_batch(batch)
            if error is not None and is_out_of_memory(error) and len(batch) > 1:
                await self._retry_in_halves(batch, error)
            elif error is not None:
                _fail(batch, error)
        finally:
            self._in_flight = 0
            # Safety net when this task is cancelled mid-batch: the worker thread may still finish, but
            # nobody would deliver its answers.
            _fail(batch, BatcherClosedError("the batcher stopped before the batch finished"))

    async def _retry_in_halves(self, batch: list[_Pending[InT, OutT]], error: BaseException) -> None:
        self._max_batch = max(1, self._max_batch // 2)
        half = (len(batch) + 1) // 2
        logger.warning(
            "inference batch of %d ran out of memory (%s: %s); max_batch lowered to %d, retrying in halves",
            len(batch), type(error).__name__, error, self._max_batch,
        )  # fmt: skip
        for part in (batch[:half], batch[half:]):
            retry_error = await self._run_batch(part)
            if retry_error is not None:
                if is_out_of_memory(retry_error):
                    self._max_batch = max(1, self._max_batch // 2)
                _fail(part, retry_error)

    async def _run_batch(self, batch: list[_Pending[InT, OutT]]) -> Exception | None:
        """Run `process` on one batch and answer its items; return the error instead of answering on failure."""
        items = [entry.item for entry in batch]
        loop = asyncio.get_running_loop()
        try:
            results, seconds = await loop.run_in_executor(self._executor, _timed, self._process, items)
            if len(results) != len(items):
                raise BatchSizeMismatchError(f"process returned {len(results)} results for {len(items)} items")
        except Exception as e:  # any failure of `process` belongs to this batch's callers, who re-raise it
            return e
        for entry, result in zip(batch, results, strict=True):
            if not entry.future.done():
                entry.future.set_result(result)
        self._report(len(batch), seconds)
        return None

    def _report(self, size: int, seconds: float) -> None:
        if self._on_batch is None:
            return
        try:
            self._on_batch(size, seconds)
        except Exception:  # a metrics bug must not stop inference for every stream
            logger.exception("on_batch callback failed")

    def _fail_all(self, error: BaseException) -> None:
        pending = list(self._queue)
        self._queue.clear()
        _fail(pending, error)


def _timed(process: Callable[[Sequence[InT]], Sequence[OutT]], items: list[InT]) -> tuple[Sequence[OutT], float]:
    start = time.perf_counter()
    results = process(items)
    return results, time.perf_counter() - start


def _fail(batch: Sequence[_Pending[InT, OutT]], error: BaseException) -> None:
    for entry in batch:
        if not entry.future.done():
            entry.future.set_exception(error)
