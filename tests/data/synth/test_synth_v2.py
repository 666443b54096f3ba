"""Synthesis v2: composed requests over the typed tool graph, retriever-offered tools, irrelevance."""

from __future__ import annotations

import copy
import json
import random

import pytest

from multiagentllm.data.synth import compose
from multiagentllm.data.synth.engine import families, synthesize
from multiagentllm.data.synth.episode import Episode, Skip
from multiagentllm.data.synth.irrelevant import _words, irrelevant_give_ups
from multiagentllm.data.synth.verify import verify
from multiagentllm.tools.replay import base_registry, fresh_for
from multiagentllm.tools.retrieval import DEFAULT_K, retriever_for
from multiagentllm.types import Trajectory


@pytest.fixture(scope="module")
def v2():
    trajs, report = synthesize(1500, seed=11, recipe="v2")
    return trajs, report


def composed(trajs):
    return [d for d in trajs if d["meta"]["family"] == "composed"]


def calls(d):
    return [s["action"] for s in d["steps"] if s.get("action")]


def test_unknown_recipe_is_refused_before_any_work():
    with pytest.raises(ValueError, match="unknown synthesis recipe 'v9'"):
        synthesize(10, recipe="v9")


def test_v1_has_no_compositions_and_v2_adds_them():
    assert "composed" not in {f.name for f in families("v1")}
    assert "composed" in {f.name for f in families("v2")}


def test_composed_trajectories_verify_and_chain_calls(v2):
    trajs, report = v2
    assert report["recipe"] == "v2"
    comp = composed(trajs)
    assert len(comp) > 100
    for d in comp:
        assert verify(Trajectory.from_dict(copy.deepcopy(d)), fresh_for) is None
        assert 1 <= len(calls(d)) <= compose.MAX_CALLS
    # many distinct tool chains, most of them two calls or more
    chains = {tuple(c["name"] for c in calls(d)) for d in comp}
    assert len(chains) > 40
    assert sum(len(calls(d)) >= 2 for d in comp) > 0.7 * len(comp)


def test_no_call_is_repeated_within_a_composition(v2):
    for d in composed(v2[0]):
        made = [(c["name"], repr(sorted(c["arguments"].items()))) for c in calls(d)]
        ok = [m for m, s in zip(made, [s for s in d["steps"] if s.get("action")])
              if '"error"' not in s["observation"]]
        assert len(ok) == len(set(ok)), d["instruction"]


def test_held_out_chains_never_appear(v2):
    for d in composed(v2[0]):
        names = [c["name"] for c in calls(d)]
        assert "translate_phrase" not in names and "split_bill" not in names
        for c in calls(d):
            if c["name"] == "convert_currency":  # only hotel totals are converted
                totals = [h["total_usd"] for s in d["steps"] if s.get("action", {}).get("name") == "search_hotels"
                          for h in json.loads(s["observation"]).get("hotels", [])]
                assert c["arguments"]["amount"] in totals


def test_composer_refuses_a_held_out_edge():
    ep = Episode(base_registry().fresh(seed=0), random.Random(0))
    c = compose.Composer(ep, random.Random(0))
    with pytest.raises(AssertionError, match="held-out chain search_hotels -> split_bill"):
        c.call("split_bill", {"total": 300, "people": 3}, "the share", feeds_from="search_hotels")


def test_a_call_made_once_is_reused_not_repeated():
    ep = Episode(base_registry().fresh(seed=0), random.Random(0))
    c = compose.Composer(ep, random.Random(0))
    c.remaining = ["the capital", "the population"]
    first = c.call("country_info", {"country": "Japan"}, "the facts about Japan")
    again = c.call("country_info", {"country": "Japan"}, "the facts about Japan")
    assert first == again and len(ep.steps) == 1


def test_a_sixth_call_skips_the_episode():
    ep = Episode(base_registry().fresh(seed=0), random.Random(0))
    c = compose.Composer(ep, random.Random(0))
    for i in range(compose.MAX_CALLS):
        c.call("add_days", {"start": "2024-01-01", "days": i}, "a date")
    with pytest.raises(Skip, match="more than 5 calls"):
        c.call("add_days", {"start": "2024-01-01", "days": 99}, "a date")


def test_rationales_name_what_is_still_missing_until_everything_is_observed(v2):
    multi = [d for d in composed(v2[0]) if len(calls(d)) >= 2 and " and " in d["steps"][-1]["rationale"]]
    assert multi
    for d in multi[:50]:
        *middle, last = d["steps"]
        assert last["next"] == "summarizer"
        assert any(w in last["rationale"] for w in ("Every requested fact", "asked parts", "Nothing asked is missing"))
        for s in middle[1:]:
            if "That failed" in s["rationale"] or "rejected" in s["rationale"] or "rror" in s["rationale"] \
                    or "mistake" in s["rationale"] or "did not work" in s["rationale"]:
                continue  # a recovery retry names the error instead
            assert any(w in s["rationale"] for w in ("Still needed", "not yet", "remains")), s["rationale"]


def test_v2_offers_what_the_runtime_retriever_offers_in_registry_order(v2):
    registry = base_registry()
    retriever = retriever_for(registry.schemas(registry.names))
    order = {n: i for i, n in enumerate(registry.names)}
    for d in composed(v2[0]):
        names = [t["name"] for t in d["tools"]]
        used = [c["name"] for c in calls(d)]
        assert set(used) <= set(names)
        assert names == sorted(names, key=order.__getitem__)
        assert names == retriever.select(d["instruction"], DEFAULT_K, keep=used)
    v1, _ = synthesize(200, seed=11)
    assert any([t["name"] for t in d["tools"]] != sorted((t["name"] for t in d["tools"]), key=order.__getitem__)
               for d in v1)  # v1 shuffled its tool lists


def test_irrelevant_give_ups_offer_only_tools_unrelated_to_the_request(v2):
    trajs = v2[0]
    out = irrelevant_give_ups(trajs, 60, seed=2)
    assert len(out) == 60
    by_id = {d["id"]: d for d in trajs}
    for d in out:
        t = Trajectory.from_dict(copy.deepcopy(d))
        assert t.outcome == "given_up" and not t.calls and t.steps[-1].next == "give_up"
        own = by_id[d["meta"]["instruction_from"]]
        assert d["instruction"] == own["instruction"]
        assert not _words(c["name"] for c in calls(own)) & _words(x["name"] for x in d["tools"])
        assert len(d["tools"]) <= 5
        assert d["meta"]["tools_from"] != own["id"]
    assert irrelevant_give_ups(trajs, 60, seed=2) == out  # seeded


def test_irrelevance_never_uses_benchmark_test_items():
    solved = {"outcome": "solved", "instruction": "q", "source": "bfcl", "meta": {"split": "test"},
              "tools": [{"name": "a_tool"}], "steps": [{"rationale": "r", "next": "caller",
                                                          "action": {"name": "a_tool", "arguments": {}}}]}
    other = {**solved, "id": "2", "tools": [{"name": "zeta_thing"}],
             "steps": [{"rationale": "r", "next": "caller", "action": {"name": "zeta_thing", "arguments": {}}}]}
    assert irrelevant_give_ups([{**solved, "id": "1"}, other], 5, seed=0) == []
