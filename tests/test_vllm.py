"""vLLM on CPU serving the shipped trio (marked `vllm`: `make test-vllm`, which installs vLLM first;
about 5 minutes on an idle 2-core machine). The float32 export is served with the three role
adapters as multi-LoRA on loopback (`serve.vllm_server`), and what it writes must be what the
in-process runtime writes at the same precision (the float32 torch runner):

* an episode, step for step and in its answer;
* held-out role prompts (the data builder's rows for the fixture trajectories and for tasks of the
  synthesis families held out of training), token for token: vLLM reads the same prompt ids, each
  token it writes is the in-process argmax after the same prefix, and its text is the runtime's.
  A difference is allowed only at a near tie (in-process top-2 logit margin under `TIE`): float32
  kernels that add in another order;
* one pass-rate task run by the eval machinery (constrained turns included), record for record;
* `umi serve --backend openai` in front of vLLM: the same episode over its HTTP API.

Everything in process is computed before vLLM starts, so the two never share the CPU (on 2 cores
an idle vLLM engine beside a decoding runtime slows both badly). Run with `-rP` (as
`make test-vllm` does) to see the table of the role prompts."""

import json

import pytest

from multiagentllm.data.builders import STEP_ROWS
from multiagentllm.io import read_trajectories
from multiagentllm.paths import repo_path
from multiagentllm.roles import registry
from multiagentllm.roles.registry import TRIO
from multiagentllm.types import Trajectory

pytestmark = [pytest.mark.vllm, pytest.mark.timeout(1800)]  # a shared CI machine can be slow; a hang still ends
FLIGHT = ("Book me a flight from New York to Los Angeles next Tuesday, the cheaper one, for passenger "
          "Ada Lovelace, and tell me the booking reference.")
FIXTURES = repo_path("tests", "fixtures", "trajectories.jsonl")
HELD_OUT_TASKS = 4  # synthesized tasks of the held-out families (3 families, 33 role prompts with the fixtures)
# A float32 forward pass computed by other kernels (oneDNN in vLLM, ATen here) moves logits by about
# 1e-4..1e-3; a greedy choice can flip only where the top two are closer than that.
TIE = 0.01


@pytest.fixture(scope="module")
def installed():
    from multiagentllm.serve.vllm_server import INSTALL_HINT, vllm_available

    if not vllm_available():
        pytest.skip(f"vLLM is not installed: {INSTALL_HINT}")


@pytest.fixture(scope="module")
def torch_trio(installed):
    from multiagentllm.models import load_llm

    return load_llm(engine="torch")


@pytest.fixture(scope="module")
def tasks(tmp_path_factory) -> tuple[list[Trajectory], object]:
    """The held-out synthesized tasks, and a file of them for `evaluate_passrate`."""
    from multiagentllm.data.synth.engine import ChunkResult, families, play_instruction

    result, index = ChunkResult(), 0
    test_families = [f for f in families() if f.split == "test"]
    while len(firsts := [r for r in result.trajectories if r["meta"].get("variant") == 0]) < HELD_OUT_TASKS:
        play_instruction(0, index, test_families, result)
        index += 1
    path = tmp_path_factory.mktemp("tasks") / "tasks.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in firsts[:HELD_OUT_TASKS]))
    return [Trajectory.from_dict(r) for r in firsts[:HELD_OUT_TASKS]], path


def role_prompts(held_out: list[Trajectory]) -> dict[str, list[str]]:
    trajectories = [*held_out, *read_trajectories(FIXTURES)]
    return {role: [row["prompt"] for t in trajectories for row in STEP_ROWS[role](t)] for role in TRIO}


def _episode(llm):
    from multiagentllm.agent.loop import AgentConfig
    from multiagentllm.agent.session import run_query

    return run_query(FLIGHT, llm=llm, config=AgentConfig(max_seconds=None))  # a busy machine ends nothing early


def _passrate(llm, path, name: str) -> list[dict]:
    from multiagentllm.eval.benchmarks.passrate import evaluate_passrate
    from multiagentllm.eval.generate import System

    return evaluate_passrate(path, System(llm, name=name), limit=1, progress=False)[1]


@pytest.fixture(scope="module")
def reference(torch_trio, tasks) -> dict:
    """What the in-process runtime writes, all of it before vLLM starts."""
    held_out, path = tasks
    texts = {role: [torch_trio.complete([p], role=role, max_new_tokens=registry.max_new_tokens(role),
                                        stop=registry.stop(role))[0] for p in prompts]
             for role, prompts in role_prompts(held_out).items()}
    return {"episode": _episode(torch_trio), "texts": texts, "passrate": _passrate(torch_trio, path, "torch")}


@pytest.fixture(scope="module")
def vllm_url(reference, tmp_path_factory):
    from multiagentllm.export import export_vllm
    from multiagentllm.serve.vllm_server import vllm_server

    out = tmp_path_factory.mktemp("export")
    export = export_vllm(repo_path("checkpoints", "cpu-full"), out / "vllm", dtype="float32")
    with vllm_server(export, log=out / "vllm.log") as server:
        yield server.url


def served_llm(url: str, **options):
    from multiagentllm.models.backends.openai_http import Endpoint, OpenAIBackend

    return OpenAIBackend(Endpoint(url, "{role}"), **options)


def test_an_episode_through_vllm_equals_the_in_process_one(vllm_url, reference):
    served, local = _episode(served_llm(vllm_url)), reference["episode"]
    assert [s.to_dict() for s in served.trajectory.steps] == [s.to_dict() for s in local.trajectory.steps]
    assert served.answer == local.answer and served.status == local.status == "solved"


def test_held_out_role_prompts_token_for_token(vllm_url, reference, torch_trio, tasks):
    """Every token vLLM writes is the in-process argmax after the same prefix (teacher-forced,
    float32), and its text is the runtime's; either may differ only at a near tie."""
    from multiagentllm.models.tokens import encode

    served = served_llm(vllm_url, extra_body={"return_token_ids": True})
    rows = []
    for role, prompts in role_prompts(tasks[0]).items():
        texts = served.complete(prompts, role=role, max_new_tokens=registry.max_new_tokens(role),
                                stop=registry.stop(role))  # one batch
        for prompt, text, choice, local in zip(prompts, texts, served.last_choices, reference["texts"][role]):
            ids, generated = encode(torch_trio.tokenizer, prompt), choice["token_ids"]
            assert choice["prompt_token_ids"] == ids, f"vLLM tokenized a {role} prompt differently"
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


def test_a_passrate_task_through_vllm_equals_the_in_process_one(vllm_url, reference, tasks):
    """The eval machinery (`evaluate_passrate`: retrieval, constrained turns, the judge) on one
    held-out task; the grammars go to vLLM as `structured_outputs` (its guidance backend)."""
    served = _passrate(served_llm(vllm_url), tasks[1], "vllm")
    print("pass-rate task through vLLM:", json.dumps(served))
    assert served == reference["passrate"] and served[0]["calls"]


def test_umi_serve_in_front_of_vllm_runs_the_same_episode(vllm_url, reference, tmp_path):
    """`umi serve --backend openai --base-url <vLLM>`: the project's server runs the agent loop and
    every role completion goes to vLLM; the flight request over its HTTP API is the in-process
    episode, step for step."""
    import sys

    import httpx

    from multiagentllm.serve.vllm_server import free_port, http_server

    port = free_port()
    cmd = [sys.executable, "-m", "multiagentllm.cli", "serve", "--backend", "openai", "--base-url", vllm_url,
           "--port", str(port), "--log-level", "warning"]
    with http_server(cmd, url=f"http://127.0.0.1:{port}", ready="/health", log=tmp_path / "serve.log",
                     name="umi serve") as server:
        r = httpx.post(f"{server.url}/v1/chat/completions", timeout=1200, json={
            "model": "alpha-umi", "messages": [{"role": "user", "content": FLIGHT}]})
    assert r.status_code == 200, r.text[:500]
    body, local = r.json(), reference["episode"]
    assert body["umi"]["status"] == local.status == "solved"
    assert body["umi"]["steps"] == [s.to_dict() for s in local.trajectory.steps]
    assert body["choices"][0]["message"]["content"] == local.answer
