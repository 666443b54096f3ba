"""vLLM on CPU serving the shipped trio (marked `vllm`: `make test-vllm`, which installs vLLM first;
about 3 minutes). The float32 export is served with the three role adapters as multi-LoRA on
loopback (`serve.vllm_server`), and what it writes must be what the in-process runtime writes:

* an episode, step for step and in its answer (against the default in-process engine);
* held-out role prompts (the data builder's rows for the fixture trajectories and for tasks of the
  synthesis families held out of training), token for token against the float32 torch runtime.
  A prompt whose text differs is allowed only where the in-process logits at the first differing
  token are a near tie (top-2 margin under `TIE`): float32 kernels that add in another order;
* one pass-rate task run by the eval machinery, record for record.

Run with `-rP` (as `make test-vllm` does) to see the per-prompt table."""

import json

import pytest

from multiagentllm.data.builders import STEP_ROWS
from multiagentllm.io import read_trajectories
from multiagentllm.paths import repo_path
from multiagentllm.roles import registry
from multiagentllm.roles.registry import TRIO
from multiagentllm.types import Trajectory

pytestmark = pytest.mark.vllm
FLIGHT = ("Book me a flight from New York to Los Angeles next Tuesday, the cheaper one, for passenger "
          "Ada Lovelace, and tell me the booking reference.")
FIXTURES = repo_path("tests", "fixtures", "trajectories.jsonl")
HELD_OUT_TASKS = 4  # synthesized tasks of the held-out families (3 families, 33 role prompts with the fixtures)
# A float32 forward pass computed by other kernels (oneDNN in vLLM, ATen here) moves logits by about
# 1e-4..1e-3; a greedy choice can flip only where the top two are closer than that.
TIE = 0.01


@pytest.fixture(scope="module")
def vllm_url(tmp_path_factory):
    from multiagentllm.export import export_vllm
    from multiagentllm.serve.vllm_server import INSTALL_HINT, vllm_available, vllm_server

    if not vllm_available():
        pytest.skip(f"vLLM is not installed: {INSTALL_HINT}")
    out = tmp_path_factory.mktemp("export")
    export = export_vllm(repo_path("checkpoints", "cpu-full"), out / "vllm", dtype="float32")
    with vllm_server(export, log=out / "vllm.log") as server:
        yield server.url


@pytest.fixture(scope="module")
def torch_trio():
    """The in-process reference at vLLM's precision: the float32 torch runner."""
    from multiagentllm.models import load_llm

    return load_llm(engine="torch")


@pytest.fixture(scope="module")
def held_out() -> list[Trajectory]:
    from multiagentllm.data.synth.engine import ChunkResult, families, play_instruction

    result, index = ChunkResult(), 0
    test_families = [f for f in families() if f.split == "test"]
    while len(firsts := [r for r in result.trajectories if r["meta"].get("variant") == 0]) < HELD_OUT_TASKS:
        play_instruction(0, index, test_families, result)
        index += 1
    return [Trajectory.from_dict(r) for r in firsts[:HELD_OUT_TASKS]]


def served_llm(url: str, **options):
    from multiagentllm.models.backends.openai_http import Endpoint, OpenAIBackend

    return OpenAIBackend(Endpoint(url, "{role}"), **options)


def test_an_episode_through_vllm_equals_the_in_process_one(vllm_url):
    from multiagentllm.agent.loop import AgentConfig
    from multiagentllm.agent.session import run_query

    config = AgentConfig(max_seconds=None)  # a busy machine must not end one of them early
    served = run_query(FLIGHT, llm=served_llm(vllm_url), config=config)
    local = run_query(FLIGHT, config=config)
    assert [s.to_dict() for s in served.trajectory.steps] == [s.to_dict() for s in local.trajectory.steps]
    assert served.answer == local.answer and served.status == local.status == "solved"


def test_held_out_role_prompts_token_for_token(vllm_url, torch_trio, held_out):
    """Every token vLLM writes is the in-process argmax after the same prefix (teacher-forced,
    float32), and its text is the runtime's; either may differ only at a near tie."""
    from multiagentllm.models.tokens import encode

    trajectories = [*held_out, *read_trajectories(FIXTURES)]
    served = served_llm(vllm_url, extra_body={"return_token_ids": True})
    rows = []
    for role in TRIO:
        prompts = [row["prompt"] for t in trajectories for row in STEP_ROWS[role](t)]
        budget, stop = registry.max_new_tokens(role), registry.stop(role)
        texts = served.complete(prompts, role=role, max_new_tokens=budget, stop=stop)  # one batch
        for prompt, text, choice in zip(prompts, texts, served.last_choices):
            ids, generated = encode(torch_trio.tokenizer, prompt), choice["token_ids"]
            assert choice["prompt_token_ids"] == ids, f"vLLM tokenized a {role} prompt differently"
            local = torch_trio.complete([prompt], role=role, max_new_tokens=budget, stop=stop)[0]
            rows.append({"role": role, **compare(torch_trio, role, ids, generated, text, local)})
    print(f"{len(rows)} held-out role prompts, {sum(r['tokens'] for r in rows)} tokens written by vLLM (float32):")
    for role in TRIO:
        mine = [r for r in rows if r["role"] == role]
        print(f"  {role}: same text {sum(r['same_text'] for r in mine)}/{len(mine)}, every token the "
              f"in-process argmax {sum(not r['flips'] for r in mine)}/{len(mine)}")
    for r in rows:
        if r["flips"] or not r["same_text"]:
            print("  differs:", json.dumps(r))
    flips = [f for r in rows for f in r["flips"]]
    assert all(f["margin"] < TIE for f in flips), f"a vLLM token is not the in-process argmax beyond a near tie ({TIE})"
    assert all(r["margin"] < TIE for r in rows if not r["same_text"]), f"a text differs beyond a near tie ({TIE})"


def compare(trio, role: str, prompt_ids: list[int], generated: list[int], served: str, local: str) -> dict:
    """vLLM's tokens against the in-process logits after the same prefix (teacher-forced): the
    positions where its token is not their argmax (`flips`, with the logit gap), and where the
    texts differ, the vLLM token holding the first differing character and the top-2 margin there."""
    import torch

    entry = trio.role(role)
    entry.model.set_adapter(entry.adapter)
    with torch.no_grad():  # row j predicts generated[j]; the last row, the token after them
        logits = entry.model(input_ids=torch.tensor([prompt_ids + generated])).logits[0, len(prompt_ids) - 1:]
    best = logits.argmax(-1).tolist()
    flips = [{"at": j, "margin": round(float(logits[j, best[j]] - logits[j, t]), 5)}
             for j, t in enumerate(generated) if best[j] != t]
    out = {"tokens": len(generated), "same_text": served == local, "flips": flips}
    if served != local:
        common = next((i for i, (a, b) in enumerate(zip(served, local)) if a != b), min(len(served), len(local)))
        at = next((j for j in range(len(generated))
                   if len(trio.tokenizer.decode(generated[: j + 1], skip_special_tokens=True)) > common),
                  len(generated))
        top = logits[at].topk(2).values
        out.update(at=at, margin=round(float(top[0] - top[1]), 5), served=served[common: common + 30],
                   local=local[common: common + 30])
    return out


def test_a_passrate_task_through_vllm_equals_the_in_process_one(vllm_url, torch_trio, held_out, tmp_path):
    """The eval machinery (`evaluate_passrate`, constrained turns, retrieval, the judge) on one
    held-out task: the grammars go to vLLM as `structured_outputs` (its guidance backend)."""
    from multiagentllm.eval.benchmarks.passrate import evaluate_passrate
    from multiagentllm.eval.generate import System

    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text("".join(json.dumps(t.to_dict()) + "\n" for t in held_out))
    _, served = evaluate_passrate(tasks, System(served_llm(vllm_url), name="vllm"), limit=1, progress=False)
    _, local = evaluate_passrate(tasks, System(torch_trio, name="torch"), limit=1, progress=False)
    print("pass-rate task through vLLM:", json.dumps(served))
    assert served == local and served[0]["calls"]
