"""Batched generation with a resumable cache."""

import pytest

from eval_helpers import tiny_checkpoint  # noqa: F401 - a fixture
from multiagentllm.eval.generate import CachedLLM, Generator, Request, System
from multiagentllm.roles import caller, planner


def test_batches_use_each_turns_stop_and_budget_and_keep_order(scripted):
    seen = []

    class Spy:
        def complete(self, prompts, *, role, max_new_tokens, stop):
            seen.append((role, len(prompts), max_new_tokens, tuple(stop)))
            return [p.upper() for p in prompts]

    gen = Generator(System(Spy()), batch_size=2, progress=False)
    reqs = [Request("a", "planner", "xx"), Request("b", "caller", "y"), Request("c", "planner", "z"),
            Request("d", "planner", "wwww")]
    assert gen.run(reqs) == ["XX", "Y", "Z", "WWWW"]
    assert ("planner", 2, planner.MAX_NEW_TOKENS, tuple(planner.STOP)) in seen
    assert ("caller", 1, caller.MAX_NEW_TOKENS, tuple(caller.STOP)) in seen
    assert sum(n for _, n, _, _ in seen) == 4


def test_an_interrupted_run_resumes_from_the_cache(tmp_path, scripted):
    cache = tmp_path / "c" / "cache.jsonl"
    reqs = [Request(f"k{i}", "planner", f"prompt {i}") for i in range(5)]

    class Dies:
        def __init__(self):
            self.n = 0

        def complete(self, prompts, **kw):
            self.n += 1
            if self.n == 2:
                raise KeyboardInterrupt
            return [f"out {p}" for p in prompts]

    with pytest.raises(KeyboardInterrupt):
        Generator(System(Dies()), cache=cache, batch_size=2, progress=False).run(reqs)
    assert len(cache.read_text().splitlines()) == 2  # the first batch was kept
    with cache.open("a") as f:
        f.write('{"key": "half a line')  # what a kill mid-write leaves
    llm = scripted(lambda role, p: f"out {p}")
    gen = Generator(System(llm), cache=cache, batch_size=2, progress=False)
    assert gen.run(reqs) == [f"out prompt {i}" for i in range(5)]
    assert gen.reused == 2 and gen.generated == 3
    # same prompts for another system role are not taken from the cache
    gen2 = Generator(System(llm, single=True), cache=cache, progress=False)
    gen2.run(reqs[:1])
    assert gen2.generated == 1


def test_one_at_a_time_keeps_request_order_so_steps_of_an_item_share_a_prefix():
    seen = []

    class Spy:
        def complete(self, prompts, *, role, max_new_tokens, stop):
            seen.extend(prompts)
            return prompts

    reqs = [Request("a", "planner", "item1 step1 long long"), Request("b", "planner", "item1 step1 long long step2"),
            Request("c", "planner", "i2"), Request("d", "planner", "i2 s2")]
    Generator(System(Spy()), batch_size=1, progress=False).run(reqs)
    assert seen == [r.prompt for r in reqs]
    seen.clear()
    Generator(System(Spy()), batch_size=8, progress=False).run(reqs)
    assert seen == sorted((r.prompt for r in reqs), key=len)  # padded batches: by length


def test_automatic_batch_size_is_one_for_a_cpu_model_and_eight_elsewhere(tiny_checkpoint, scripted):
    from multiagentllm.models import load_llm

    assert Generator(System(load_llm(tiny_checkpoint)), progress=False).batch_size == 1
    assert Generator(System(scripted(lambda r, p: "")), batch_size=0, progress=False).batch_size == 8


def test_bad_batch_size_and_short_model_answers(scripted):
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        Generator(System(scripted(lambda r, p: "")), batch_size=-1)

    class Short:
        def complete(self, prompts, **kw):
            return []

    with pytest.raises(RuntimeError, match="0 outputs for 1"):
        Generator(System(Short()), progress=False).run([Request("a", "planner", "p")])


def test_cached_llm_wrapper(tmp_path, scripted):
    llm = scripted(lambda role, p: p[::-1])
    cached = CachedLLM(llm, tmp_path / "x.jsonl", namespace="sys")
    assert cached.complete(["ab", "cd"], role="planner", max_new_tokens=5, stop=[]) == ["ba", "dc"]
    again = CachedLLM(scripted(lambda role, p: "other"), tmp_path / "x.jsonl", namespace="sys")
    assert again.complete(["cd"], role="planner", max_new_tokens=5, stop=[]) == ["dc"]
    assert again.complete(["cd"], role="caller", max_new_tokens=5, stop=[]) == ["other"]


def test_cached_llm_keys_each_prompt_by_its_own_grammar():
    from multiagentllm.eval.generate import CachedLLM
    from multiagentllm.roles.grammar import DECISION, PLANNER

    seen = []

    class Echo:
        constrains = True

        def complete(self, prompts, *, role, max_new_tokens, stop, constraint=None):
            seen.append((list(prompts), constraint))
            return [f"{p}:{g.role if g else '-'}" for p, g in zip(prompts, constraint or [None] * len(prompts))]

    llm = CachedLLM(Echo(), None)
    assert llm.complete(["a"], role="planner", max_new_tokens=4, stop=[], constraint=PLANNER) == ["a:planner"]
    # "a" under PLANNER is cached: only the other two are generated, each with its own grammar
    out = llm.complete(["a", "a", "b"], role="planner", max_new_tokens=4, stop=[], constraint=[PLANNER, DECISION, None])
    assert out == ["a:planner", "a:decision", "b:-"]
    assert seen[-1] == (["a", "b"], [DECISION, None])
