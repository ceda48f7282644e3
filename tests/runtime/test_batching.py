"""BatchingGenerator: concurrent requests become one generate call, within the window, on the real tiny bundle."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runtime.batching import BatcherClosed, BatchingError, BatchingGenerator, GenerationTimeout
from runtime.bundle import ModelBundle
from runtime.generator import GeneratedReport, ReportGenerator

INDICATIONS = [None, "cough", "fever and chest pain for three days", None, "dyspnoea", "follow-up of effusion"]


class CountingGenerator(ReportGenerator):
    """The real generator, recording when each call started and how many images it got."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.calls: list[tuple[float, int]] = []
        self.gate: threading.Event | None = None  # when set by a test: calls wait for it
        self.entered = threading.Event()

    def generate(self, images: Sequence[np.ndarray], indications=None, max_new_tokens=None, min_new_tokens=0):
        self.calls.append((time.monotonic(), len(images)))
        self.entered.set()
        if self.gate is not None:
            self.gate.wait(30)
        return super().generate(images, indications, max_new_tokens, min_new_tokens)

    @property
    def sizes(self) -> list[int]:
        return [n for _, n in self.calls]


class EchoGenerator:
    """A model-free generator for many-example properties: the report of an image is its first pixel."""

    def __init__(self) -> None:
        self.sizes: list[int] = []
        self._lock = threading.Lock()

    def generate(self, images, indications=None, max_new_tokens=None, min_new_tokens=0) -> list[GeneratedReport]:
        with self._lock:
            self.sizes.append(len(images))
        return [GeneratedReport("", "", (int(img.flat[0]),)) for img in images]


@pytest.fixture(scope="module")
def generator(tiny_bundle: Path) -> CountingGenerator:
    return CountingGenerator(ModelBundle.open(tiny_bundle), providers=["CPUExecutionProvider"])


@pytest.fixture
def counting(generator: CountingGenerator) -> CountingGenerator:
    generator.calls.clear()
    generator.gate = None
    generator.entered.clear()
    return generator


@pytest.fixture(scope="module")
def images() -> list[np.ndarray]:
    rng = np.random.default_rng(20240607)
    return [rng.normal(size=(3, 64, 64)).astype(np.float32) for _ in range(len(INDICATIONS))]


def test_requests_arriving_together_are_generated_in_one_call(counting: CountingGenerator, images) -> None:
    n = 4
    barrier = threading.Barrier(n)

    def one(i: int) -> GeneratedReport:
        barrier.wait()
        return batcher.generate(images[i], INDICATIONS[i], timeout=30)

    with BatchingGenerator(counting, max_batch=n, window_s=5.0) as batcher:
        started = time.monotonic()
        with ThreadPoolExecutor(n) as pool:
            reports = list(pool.map(one, range(n)))
        elapsed = time.monotonic() - started
    assert counting.sizes == [n]
    assert elapsed < 5.0  # a full batch does not wait out the window
    assert all(r.findings or r.impression or r.token_ids for r in reports)
    assert batcher.stats().calls == 1 and batcher.stats().largest == n


def test_more_requests_than_max_batch_are_split(counting: CountingGenerator, images) -> None:
    with BatchingGenerator(counting, max_batch=4, window_s=0.3) as batcher:
        futures = [batcher.submit(images[i], INDICATIONS[i]) for i in range(6)]
        for f in futures:
            f.result(30)
    assert counting.sizes == [4, 2]


def test_batched_reports_match_unbatched_generation_token_for_token(counting: CountingGenerator, images) -> None:
    alone = [ReportGenerator.generate(counting, [img], [ind])[0] for img, ind in zip(images, INDICATIONS)]
    assert len({r.token_ids for r in alone}) > 1  # the images really lead to different reports
    with BatchingGenerator(counting, max_batch=len(images), window_s=1.0) as batcher:
        futures = [batcher.submit(img, ind) for img, ind in zip(images, INDICATIONS)]
        batched = [f.result(30) for f in futures]
    assert counting.sizes == [len(images)]
    assert [r.token_ids for r in batched] == [r.token_ids for r in alone]
    assert [r.text for r in batched] == [r.text for r in alone]
    # Scores depend on the batch only through float rounding of batch-sized kernels.
    for b, a in zip(batched, alone):
        np.testing.assert_allclose(b.token_logprobs, a.token_logprobs, atol=1e-4)
        assert (b.finding_probs is None) == (a.finding_probs is None)


@pytest.mark.parametrize("window_s", [0.0, 0.15])
def test_a_lone_request_waits_at_most_the_window(counting: CountingGenerator, images, window_s: float) -> None:
    with BatchingGenerator(counting, max_batch=8, window_s=window_s) as batcher:
        submitted = time.monotonic()
        report = batcher.generate(images[0], timeout=30)
        done = time.monotonic()
    ((call_started, size),) = counting.calls
    assert size == 1 and report.token_ids
    waited = call_started - submitted
    assert window_s <= waited <= window_s + 0.2, waited  # it waits for company, but no longer (+ scheduling)
    assert done - submitted < window_s + 2.0


def test_requests_that_queue_during_a_batch_form_the_next_one_without_waiting(counting, images) -> None:
    counting.gate = threading.Event()
    with BatchingGenerator(counting, max_batch=8, window_s=0.5) as batcher:
        first = batcher.submit(images[0])
        assert counting.entered.wait(5)  # the first batch is generating (held at the gate)
        queued = [batcher.submit(images[i]) for i in range(1, 4)]
        time.sleep(0.6)  # longer than the window: the queued requests are due as soon as the model is free
        released = time.monotonic()
        counting.gate.set()
        for f in [first, *queued]:
            f.result(30)
    assert counting.sizes == [1, 3]
    assert counting.calls[1][0] - released < 0.45  # the first call's own time, not another 0.5 s window


def test_a_generator_exception_reaches_every_future_of_its_call(counting: CountingGenerator, images) -> None:
    good = images[:2]
    bad = [np.zeros((1, 64, 64), np.float32) for _ in range(3)]  # one channel: the encoder rejects it
    with BatchingGenerator(counting, max_batch=8, window_s=0.3) as batcher:
        futures = [batcher.submit(img) for img in [good[0], *bad, good[1]]]
        outcomes = []
        for f in futures:
            exc = f.exception(30)
            outcomes.append(exc)
        # the batcher survives a failed call
        assert batcher.generate(images[2], timeout=30).token_ids
    assert outcomes[0] is None and outcomes[4] is None  # same window, other shape: their own call
    failures = outcomes[1:4]
    assert all(isinstance(e, Exception) and not isinstance(e, BatchingError) for e in failures), failures
    assert sorted(counting.sizes[:2]) == [2, 3]
    assert batcher.stats().failed_calls == 1


def test_close_fails_queued_and_overdue_requests_with_a_typed_error(counting: CountingGenerator, images) -> None:
    counting.gate = threading.Event()
    batcher = BatchingGenerator(counting, max_batch=1, window_s=0.0)
    running = batcher.submit(images[0])
    assert counting.entered.wait(5)
    queued = [batcher.submit(images[i]) for i in (1, 2)]
    started = time.monotonic()
    batcher.close(grace=0.2)
    assert 0.2 <= time.monotonic() - started < 2.0
    for f in [running, *queued]:
        assert isinstance(f.exception(0), BatcherClosed)
    with pytest.raises(BatcherClosed):
        batcher.submit(images[3])
    counting.gate.set()  # the interrupted call ends; its result is discarded, the future stays failed
    time.sleep(0.3)
    assert isinstance(running.exception(0), BatcherClosed)
    assert counting.sizes == [1]  # queued requests never reached the model


def test_close_lets_the_running_batch_finish_within_the_grace(counting: CountingGenerator, images) -> None:
    counting.gate = threading.Event()
    batcher = BatchingGenerator(counting, max_batch=2, window_s=0.0)
    running = batcher.submit(images[0])
    assert counting.entered.wait(5)
    threading.Timer(0.1, counting.gate.set).start()
    batcher.close(grace=10)
    assert running.result(0).token_ids
    batcher.close()  # idempotent


def test_a_cancelled_request_is_not_generated(counting: CountingGenerator, images) -> None:
    counting.gate = threading.Event()
    with BatchingGenerator(counting, max_batch=8, window_s=0.0) as batcher:
        first = batcher.submit(images[0])
        assert counting.entered.wait(5)
        dropped, kept = batcher.submit(images[1]), batcher.submit(images[2])
        assert dropped.cancel()
        counting.gate.set()
        first.result(30)
        kept.result(30)
    assert counting.sizes == [1, 1]


def test_generate_times_out_with_a_typed_error(counting: CountingGenerator, images) -> None:
    counting.gate = threading.Event()
    with BatchingGenerator(counting, max_batch=1, window_s=0.0) as batcher:
        with pytest.raises(GenerationTimeout):
            batcher.generate(images[0], timeout=0.1)
        counting.gate.set()


@pytest.mark.parametrize("bad, error", [([1.0, 2.0], TypeError), (np.zeros((64, 64), np.float32), ValueError)])
def test_submit_rejects_what_is_not_an_image(bad, error) -> None:
    with BatchingGenerator(EchoGenerator()) as batcher, pytest.raises(error):
        batcher.submit(bad)


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError):
        BatchingGenerator(EchoGenerator(), max_batch=0)
    with pytest.raises(ValueError):
        BatchingGenerator(EchoGenerator(), window_s=-1)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    gaps_ms=st.lists(st.integers(0, 12), min_size=1, max_size=14),
    threads=st.integers(1, 4),
    max_batch=st.integers(1, 5),
    window_ms=st.integers(0, 8),
)
def test_any_arrival_pattern_resolves_every_request_with_its_own_report(gaps_ms, threads, max_batch, window_ms) -> None:
    echo = EchoGenerator()
    batcher = BatchingGenerator(echo, max_batch=max_batch, window_s=window_ms / 1000)
    images = [np.full((3, 4, 4), i, np.float32) for i in range(len(gaps_ms))]

    def send(indices: list[int]) -> list[tuple[int, GeneratedReport]]:
        out = []
        for i in indices:
            time.sleep(gaps_ms[i] / 1000)
            out.append((i, batcher.generate(images[i], timeout=10)))
        return out

    shares = [list(range(len(images)))[t::threads] for t in range(threads)]
    try:
        with ThreadPoolExecutor(threads) as pool:
            results = [pair for part in pool.map(send, shares) for pair in part]
    finally:
        batcher.close()
    assert sorted(i for i, _ in results) == list(range(len(images)))
    assert all(report.token_ids == (i,) for i, report in results)
    assert sum(echo.sizes) == len(images) and max(echo.sizes) <= max_batch
    assert batcher.stats().requests == len(images)
