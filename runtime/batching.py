"""Batched generation for studies that arrive together.

Contract:
- `BatchingGenerator(generator, max_batch, window_s)` wraps anything with ReportGenerator's
  `generate(images, indications=None, ...) -> list[GeneratedReport]`.
- `submit(image, indication)` queues one preprocessed image ([3, S, S]) and returns a Future;
  `generate(image, indication, timeout)` waits for it. Both may be called from many threads.
- One background thread forms batches: after the first queued request it waits at most `window_s`
  for more, up to `max_batch`, then makes one `generator.generate(images, indications)` call (one
  encoder run, one decoder loop). Requests that queue up while a batch is being generated have
  already waited, so they form the next batch without a further wait. A lone request therefore
  waits at most `window_s` before its generation starts.
- Requests in one batch whose images differ in shape or dtype are generated in one call per shape
  (np.stack needs one shape), so such a request never fails its neighbours.
- Every future ends with a report or an exception, never silently: an exception from the generator
  fails every future of that call; a cancelled future is skipped.
- `close(grace)` stops accepting requests (`BatcherClosed`), fails queued requests with
  `BatcherClosed`, and gives the batch being generated up to `grace` seconds before failing its
  futures too (the generator call itself cannot be interrupted; its result is then discarded).

Nothing here logs images, indications or report text: only batch sizes and timings.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, InvalidStateError
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from runtime.errors import RuntimeFailure
from runtime.generator import GeneratedReport

log = logging.getLogger("securemed.runtime.batching")

__all__ = [
    "BatchStats",
    "BatcherClosed",
    "BatchingError",
    "BatchingGenerator",
    "GenerationTimeout",
    "SupportsGenerate",
]


class BatchingError(RuntimeFailure):
    """Base class of the batcher's own errors (the generator's errors reach the futures unchanged)."""


class BatcherClosed(BatchingError):
    """The batcher was closed before this request's report was generated."""


class GenerationTimeout(BatchingError):
    """`BatchingGenerator.generate` gave up waiting; the request is cancelled if it had not started."""


class SupportsGenerate(Protocol):
    def generate(
        self,
        images: Sequence[np.ndarray],
        indications: Sequence[str | None] | None = None,
        max_new_tokens: int | None = None,
        min_new_tokens: int = 0,
    ) -> list[GeneratedReport]: ...


@dataclass(frozen=True)
class BatchStats:
    """Counters since start: generator calls, requests they served, the largest call, failed calls."""

    calls: int = 0
    requests: int = 0
    largest: int = 0
    failed_calls: int = 0


@dataclass
class _Request:
    image: np.ndarray
    indication: str | None
    future: Future[GeneratedReport]
    queued_at: float


def _fail(future: Future[Any], exc: BaseException) -> None:
    try:
        future.set_exception(exc)
    except InvalidStateError:
        pass  # already resolved (e.g. failed by close() while the generator was still running)


def _resolve(future: Future[Any], result: Any) -> None:
    try:
        future.set_result(result)
    except InvalidStateError:
        pass


class BatchingGenerator:
    """Groups concurrent single-image requests into batched `generate` calls (see module docstring)."""

    def __init__(
        self, generator: SupportsGenerate, *, max_batch: int = 8, window_s: float = 0.05, name: str = "batcher"
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be >= 1")
        if window_s < 0:
            raise ValueError("window_s must be >= 0")
        self.generator = generator
        self.max_batch = max_batch
        self.window_s = window_s
        self._cond = threading.Condition()
        self._queue: deque[_Request] = deque()
        self._running: list[_Request] = []
        self._closed = False
        self._stats = BatchStats()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    # ---- callers ----------------------------------------------------------------------------------

    def submit(self, image: np.ndarray, indication: str | None = None) -> Future[GeneratedReport]:
        """Queue one preprocessed image; the future resolves to its report or to the call's exception.

        Raises BatcherClosed after close(), TypeError/ValueError for something that is not an image array.
        """
        if not isinstance(image, np.ndarray):
            raise TypeError(f"image must be a numpy array, got {type(image).__name__}")
        if image.ndim != 3:
            raise ValueError(f"image must have shape [C, H, W], got {image.shape}")
        if indication is not None and not isinstance(indication, str):
            raise TypeError("indication must be a string or None")
        future: Future[GeneratedReport] = Future()
        with self._cond:
            if self._closed:
                raise BatcherClosed("the batcher is closed")
            self._queue.append(_Request(image, indication, future, time.monotonic()))
            self._cond.notify_all()
        return future

    def generate(
        self, image: np.ndarray, indication: str | None = None, timeout: float | None = None
    ) -> GeneratedReport:
        """The report for one image, generated in whatever batch it joins.

        Raises the generator's exception, BatcherClosed, or GenerationTimeout after `timeout` seconds.
        """
        future = self.submit(image, indication)
        try:
            return future.result(timeout)
        except FutureTimeout:
            future.cancel()  # dropped if it has not joined a batch yet
            raise GenerationTimeout(f"no report within {timeout} s") from None

    def stats(self) -> BatchStats:
        with self._cond:
            return self._stats

    def pending(self) -> int:
        """Requests queued and not yet handed to the generator."""
        with self._cond:
            return len(self._queue)

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self, grace: float = 0.0) -> None:
        """Stop: refuse new requests, fail queued ones, give the running batch `grace` seconds.

        Idempotent. Every future submitted before close() is resolved when it returns.
        """
        with self._cond:
            self._closed = True
            queued = list(self._queue)
            self._queue.clear()
            self._cond.notify_all()
        for request in queued:
            _fail(request.future, BatcherClosed("the batcher was closed before this request was generated"))
        self._thread.join(max(grace, 0.0))
        with self._cond:
            running = list(self._running)
        for request in running:
            _fail(request.future, BatcherClosed("the batcher was closed while this request was being generated"))
        if running:
            log.warning("closed with a batch of %d still generating; its results are discarded", len(running))

    def __enter__(self) -> BatchingGenerator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- the batching thread ----------------------------------------------------------------------

    def _next_batch(self) -> list[_Request] | None:
        """Block until a batch is due; None once closed."""
        with self._cond:
            while not self._queue and not self._closed:
                self._cond.wait()
            if self._closed:
                return None
            deadline = self._queue[0].queued_at + self.window_s
            while len(self._queue) < self.max_batch and not self._closed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            if self._closed:
                return None
            batch: list[_Request] = []
            while self._queue and len(batch) < self.max_batch:
                request = self._queue.popleft()
                if request.future.set_running_or_notify_cancel():
                    batch.append(request)
            self._running = batch
            return batch

    def _loop(self) -> None:
        try:
            while True:
                batch = self._next_batch()
                if batch is None:
                    return
                try:
                    groups: dict[tuple[tuple[int, ...], str], list[_Request]] = {}
                    for request in batch:
                        groups.setdefault((request.image.shape, request.image.dtype.str), []).append(request)
                    for group in groups.values():
                        self._run(group)
                except BaseException as exc:
                    for request in batch:
                        _fail(request.future, exc)  # the groups not yet run; resolved ones stay as they are
                    raise
                finally:
                    with self._cond:
                        self._running = []
        finally:
            # Should this thread ever die (SystemExit in a generator), nobody may wait for it forever.
            with self._cond:
                self._closed = True
                queued = list(self._queue)
                self._queue.clear()
            for request in queued:
                _fail(request.future, BatcherClosed("the batching thread has stopped"))

    def _run(self, group: list[_Request]) -> None:
        started = time.monotonic()
        try:
            reports = self.generator.generate([r.image for r in group], [r.indication for r in group])
            if len(reports) != len(group):
                raise BatchingError(f"the generator returned {len(reports)} reports for {len(group)} images")
        except Exception as exc:
            self._count(len(group), failed=True)
            log.warning("generation of a batch of %d failed: %s", len(group), type(exc).__name__)
            for request in group:
                _fail(request.future, exc)
            return
        self._count(len(group), failed=False)
        log.debug(
            "generated a batch of %d in %.3f s (oldest request waited %.3f s)",
            len(group),
            time.monotonic() - started,
            started - min(r.queued_at for r in group),
        )
        for request, report in zip(group, reports):
            _resolve(request.future, report)

    def _count(self, size: int, *, failed: bool) -> None:
        with self._cond:
            s = self._stats
            self._stats = BatchStats(s.calls + 1, s.requests + size, max(s.largest, size), s.failed_calls + failed)
