"""The model worker: one thread generates, waiting jobs with the same settings are batched,
failures reach exactly the requests they belong to."""

import threading

import pytest

from multiagentllm.serve.worker import Admission, Cancelled, ModelUnavailable, ModelWorker, QueuedLLM


class GatedLLM:
    """Blocks its first call until `gate` is set, so the test can queue jobs behind it."""

    def __init__(self):
        self.gate, self.entered = threading.Event(), threading.Event()
        self.batches: list[tuple[str, list[str]]] = []

    def complete(self, prompts, *, role, max_new_tokens, stop):
        self.entered.set()
        self.gate.wait(5)
        self.batches.append((role, list(prompts)))
        if "fail" in prompts:
            raise ValueError("bad prompt")
        return [f"{role}:{p}" for p in prompts]


def test_waiting_jobs_with_the_same_settings_are_batched_and_a_skipped_job_runs_next():
    llm = GatedLLM()
    worker = ModelWorker(llm, max_batch=3)
    worker.start()
    first = worker.submit(["p0"], role="planner", max_new_tokens=8, stop=[])
    assert llm.entered.wait(5)
    same = [worker.submit([f"p{i}"], role="planner", max_new_tokens=8, stop=[]) for i in (1, 2)]
    other = worker.submit(["c1"], role="caller", max_new_tokens=8, stop=[])
    late = worker.submit(["p3"], role="planner", max_new_tokens=8, stop=[])
    full = worker.submit(["p4"], role="planner", max_new_tokens=8, stop=[])
    llm.gate.set()
    assert first.result(5) == ["planner:p0"]
    assert [f.result(5) for f in same] == [["planner:p1"], ["planner:p2"]]
    assert other.result(5) == ["caller:c1"] and late.result(5) == ["planner:p3"]
    assert full.result(5) == ["planner:p4"]
    # p3 joins p1 and p2 past the caller job, which runs next; p4 no longer fits the batch of 3
    assert llm.batches == [("planner", ["p0"]), ("planner", ["p1", "p2", "p3"]), ("caller", ["c1"]),
                           ("planner", ["p4"])]
    assert worker.generations == 6 and worker.batches == 4
    worker.stop()


def test_a_failing_batch_fails_only_its_own_requests():
    llm = GatedLLM()
    llm.gate.set()
    worker = ModelWorker(llm)
    worker.start()
    with pytest.raises(ValueError, match="bad prompt"):
        worker.submit(["fail"], role="planner", max_new_tokens=8, stop=[]).result(5)
    assert worker.submit(["ok"], role="planner", max_new_tokens=8, stop=[]).result(5) == ["planner:ok"]
    worker.stop()


def test_a_model_that_returns_the_wrong_number_of_texts_is_an_error():
    class Short:
        def complete(self, prompts, **_):
            return []

    worker = ModelWorker(Short())
    worker.start()
    with pytest.raises(RuntimeError, match="0 completions for 1 prompts"):
        worker.submit(["x"], role="planner", max_new_tokens=8, stop=[]).result(5)
    worker.stop()


def test_a_factory_loads_in_the_worker_thread_and_a_failed_load_is_reported():
    loaded = threading.Event()

    def factory():
        loaded.wait(5)
        return GatedLLM()

    worker = ModelWorker(factory)
    assert worker.state == "loading"
    worker.start()
    job = worker.submit(["x"], role="planner", max_new_tokens=8, stop=[])
    loaded.set()
    for _ in range(500):
        if worker.llm is not None:
            break
        threading.Event().wait(0.01)
    worker.llm.gate.set()
    assert job.result(5) == ["planner:x"] and worker.state == "ready"
    worker.stop()

    def broken():
        raise OSError("no weights here")

    bad = ModelWorker(broken)
    bad.start()
    bad._thread.join(5)
    assert bad.state == "failed" and "no weights here" in bad.error
    with pytest.raises(ModelUnavailable, match="no weights here"):
        bad.submit(["x"], role="planner", max_new_tokens=8, stop=[])


def test_admission_is_bounded():
    gate = Admission(2)
    assert gate.enter() and gate.enter() and not gate.enter()
    gate.leave()
    assert gate.enter() and gate.active == 2


def test_queued_llm_counts_tokens_times_out_and_can_be_cancelled():
    llm = GatedLLM()
    worker = ModelWorker(llm)
    worker.start()
    queued = QueuedLLM(worker, timeout=0.2, count_tokens=lambda t: len(t))
    with pytest.raises(ModelUnavailable, match="waited more than 0.2 s"):
        queued.complete(["slow"], role="planner", max_new_tokens=8, stop=[])
    llm.gate.set()
    queued.timeout = 5
    assert queued.complete(["abc"], role="caller", max_new_tokens=8, stop=[]) == ["caller:abc"]
    assert (queued.prompt_tokens, queued.completion_tokens) == (3, len("caller:abc"))
    queued.cancelled.set()
    with pytest.raises(Cancelled):
        queued.complete(["abc"], role="caller", max_new_tokens=8, stop=[])
    worker.stop()
