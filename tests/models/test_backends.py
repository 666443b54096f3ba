"""Backends on a tiny random Llama with LoRA adapters (seconds on a CPU), and the OpenAI-compatible
backend against a tiny HTTP server on loopback."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from multiagentllm.models import load_llm  # noqa: E402
from multiagentllm.models.backends import (  # noqa: E402
    CheckpointError, Endpoint, OpenAIBackend, ScriptedLLM, cut_at_stop, read_manifest,
)
from multiagentllm.models.backends.openai_http import BackendError  # noqa: E402
from multiagentllm.roles import planner  # noqa: E402
from tiny_llama import random_lora, tiny_base, write_manifest  # noqa: E402

TEXTS = [
    "You are the planner. Tools: search_flights, book_flight. <s> Book me a flight </s>",
    "Rationale: I should search flights first.\nNext: Caller\nAction: search_flights",
    'Action Input: {"origin": "New York", "destination": "Los Angeles", "date": "2024-06-11"}',
    "Observation: {\"flights\": [{\"flight_id\": \"UA1234\", \"price_usd\": 240}]}",
    "Answer:\nYour flight is booked; the reference is PNR7Q2.",
]
PROMPTS = ["<s> Book me a flight </s>\nRationale:", "Observation: {\"flights\": []}\nRationale: I",
           "Action: search_flights\nAction Input: {\"origin\":"]


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    """CKPT/ with a tiny base, a stage-1 adapter, three role adapters and a single adapter."""
    root = tmp_path_factory.mktemp("ckpt")
    base = root / "base"
    tiny_base(base, TEXTS, vocab_size=400, hidden=64, intermediate=128)
    for i, name in enumerate(["stage1_backbone", "planner", "caller", "summarizer", "single"]):
        random_lora(base, root / name, seed=i + 1)
    write_manifest(root, base, {**dict.fromkeys(("planner", "caller", "summarizer"), "stage1"), "single": "base"})
    return root


@pytest.fixture(scope="module")
def trio(ckpt):
    return load_llm(ckpt)


@pytest.fixture(scope="module")
def plain(ckpt):
    """The same trio decoded with the model's own forward instead of the lean runner."""
    return load_llm(ckpt, lean=False)


def _gen(llm, prompts, role="planner", n=12, stop=()):
    return llm.complete(prompts, role=role, max_new_tokens=n, stop=list(stop))


def test_trio_shares_one_base_and_switching_adapters_changes_outputs(trio):
    models = {id(trio.role(r).model) for r in ("planner", "caller", "summarizer")}
    assert len(models) == 1  # one model holding three adapters
    outs = {r: _gen(trio, PROMPTS[:1], role=r)[0] for r in ("planner", "caller", "summarizer")}
    assert len(set(outs.values())) == 3, outs
    assert _gen(trio, PROMPTS[:1], role="planner")[0] == outs["planner"]  # switching back restores


def test_lean_runner_matches_transformers_forward(trio, plain):
    from multiagentllm.models.backends.lean import LeanLlama

    assert isinstance(trio.runner(trio.role("caller").model), LeanLlama)
    for role in ("planner", "caller"):
        assert _gen(trio, PROMPTS, role=role, n=16) == _gen(plain, PROMPTS, role=role, n=16)


def test_batch_equals_one_by_one(trio):
    batch = _gen(trio, PROMPTS, role="caller", n=16)
    assert batch == [_gen(trio, [p], role="caller", n=16)[0] for p in PROMPTS]


def test_prefix_reuse_gives_the_same_tokens_and_skips_the_shared_prefix(trio, plain):
    runner = trio.runner(trio.role("planner").model)
    history = "\n".join(TEXTS)
    prompts = [history[:120] + "\nRationale:", history + "\nRationale:", history + "\nNext:"]
    before = runner.reused_tokens
    with_reuse = [_gen(trio, [p], role=r, n=10)[0] for p in prompts for r in ("planner", "caller")]
    assert runner.reused_tokens - before > 100  # each role extended its own previous prompt
    assert with_reuse == [_gen(plain, [p], role=r, n=10)[0] for p in prompts for r in ("planner", "caller")]


def test_ngram_drafter_proposes_what_followed_the_latest_longest_match():
    from multiagentllm.models.backends.decode import NgramDrafter

    d = NgramDrafter([1, 2, 3, 9, 1, 2, 4, 5, 6])
    assert d.draft(3) == []  # 6 never occurred before
    d.add(1)
    d.add(2)
    assert d.draft(3) == [4, 5, 6]  # the latest "1 2" wins over the earlier one
    d.add(3)
    assert d.draft(2) == [9, 1]  # the trigram "1 2 3" at the start
    # a longer match wins over a more recent shorter one: "5 1 2" -> 7, not "2" -> 6
    assert NgramDrafter([5, 1, 2, 7, 8, 2, 6, 5, 1, 2]).draft(2) == [7, 8]
    assert d.draft(0) == []
    assert NgramDrafter([]).draft(4) == []


def test_speculative_decoding_gives_the_greedy_tokens_with_fewer_forwards(trio):
    runner = trio.runner(trio.role("caller").model)
    history = "\n".join(TEXTS)
    prompts = [history + "\n" + history[:200], history + "\nAction Input:", PROMPTS[2] * 3]
    saved = trio.draft_tokens
    try:
        trio.draft_tokens = 0
        plain_out = [_gen(trio, [p], role=r, n=24)[0] for p in prompts for r in ("caller", "planner")]
        trio.draft_tokens = 6
        before = runner.accepted, runner.proposed
        spec_out = [_gen(trio, [p], role=r, n=24)[0] for p in prompts for r in ("caller", "planner")]
    finally:
        trio.draft_tokens = saved
    assert spec_out == plain_out
    assert runner.proposed > before[1]
    assert runner.accepted > before[0]  # some drafts were right, so some forwards were saved


def test_extend_and_rollback_guard_the_cache(trio):
    from multiagentllm.models.backends.lean import LeanLlama

    model = trio.role("planner").model
    trio.complete([PROMPTS[0]], role="planner", max_new_tokens=2, stop=[])
    runner = trio.runner(model)
    assert isinstance(runner, LeanLlama)
    room = runner.k_cache[0].shape[2] - runner.length
    with pytest.raises(ValueError, match="overflows the cache"):
        runner.extend([1] * (room + 1))
    with pytest.raises(ValueError, match="cannot roll back"):
        runner.rollback(runner.length + 1)


def test_separate_models_give_the_same_outputs(ckpt, trio):
    sep = load_llm(ckpt, separate=True)
    assert len({id(sep.role(r).model) for r in ("planner", "caller", "summarizer")}) == 3
    for role in ("planner", "summarizer"):
        assert _gen(sep, PROMPTS, role=role) == _gen(trio, PROMPTS, role=role)


def test_stop_strings_cut_the_output(trio):
    free = _gen(trio, PROMPTS[:1], n=24)[0]
    assert len(free) > 6
    stop = free[4:7]
    cut = _gen(trio, PROMPTS[:1], n=24, stop=[stop])[0]
    assert cut == free[: free.find(stop)]
    assert stop not in cut


def test_single_mode_loads_only_the_single_role(ckpt):
    single = load_llm(ckpt, single=True)
    assert list(single.roles) == ["single"]
    assert _gen(single, PROMPTS[:1], role="single")
    with pytest.raises(KeyError, match="no 'planner' model"):
        _gen(single, PROMPTS[:1], role="planner")


def test_missing_role_and_bad_manifest_are_clear_errors(ckpt, tmp_path):
    partial = json.loads((ckpt / "manifest.json").read_text())
    del partial["roles"]["caller"]
    (tmp_path / "manifest.json").write_text(json.dumps(partial))
    with pytest.raises(CheckpointError, match="no caller model yet"):
        load_llm(tmp_path)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="invalid JSON"):
        read_manifest(tmp_path)
    with pytest.raises(CheckpointError, match="no manifest.json"):
        read_manifest(tmp_path / "..")
    unfinished = dict(partial, roles={r: {"path": r, "on": "stage1"} for r in ("planner", "caller", "summarizer")})
    (tmp_path / "manifest.json").write_text(json.dumps(unfinished))
    with pytest.raises(CheckpointError, match="weights at .* are missing"):
        load_llm(tmp_path)


def test_no_shipped_checkpoint_says_how_to_train(monkeypatch, tmp_path):
    from multiagentllm.models.backends import checkpoint

    monkeypatch.setattr(checkpoint, "repo_checkpoints", lambda: tmp_path / "checkpoints")
    with pytest.raises(CheckpointError, match="has not been trained yet"):
        load_llm(None)


def test_default_prefers_a_complete_trio_over_a_chain_in_progress(monkeypatch, tmp_path):
    from multiagentllm.models.backends import checkpoint

    root = tmp_path / "checkpoints"
    monkeypatch.setattr(checkpoint, "repo_checkpoints", lambda: root)
    partial = {"format": "lora", "base": "embedded", "stage1": "stage1_backbone", "roles": {}}
    (root / "cpu-full").mkdir(parents=True)
    (root / "cpu-full" / "manifest.json").write_text(json.dumps(partial))
    assert checkpoint.default_checkpoint() == root / "cpu-full"  # only one: loading it names what is missing
    with pytest.raises(CheckpointError, match="has no planner, caller, summarizer model yet"):
        load_llm(None)
    full = {**partial, "roles": {r: {"path": r, "on": "stage1"} for r in ("planner", "caller", "summarizer")}}
    (root / "cpu-demo").mkdir()
    (root / "cpu-demo" / "manifest.json").write_text(json.dumps(full))
    assert checkpoint.default_checkpoint() == root / "cpu-demo"


def test_count_tokens_uses_the_shared_rule(trio):
    from multiagentllm.models.tokens import encode

    assert trio.count_tokens(TEXTS[0]) == len(encode(trio.tokenizer, TEXTS[0]))


# --- scripted ------------------------------------------------------------------------------------

def test_scripted_cuts_at_stop_and_reports_exhaustion():
    llm = ScriptedLLM({"planner": ["Rationale: search.\nNext: Caller\nAction: x", lambda p: p[-3:]]})
    assert llm.complete(["p"], role="planner", max_new_tokens=9, stop=planner.STOP) == [
        "Rationale: search.\nNext: Caller"]
    assert llm.complete(["abcdef"], role="planner", max_new_tokens=9, stop=[]) == ["def"]
    with pytest.raises(RuntimeError, match="ran out of outputs for role 'planner' after 2 calls"):
        llm.complete(["p"], role="planner", max_new_tokens=9, stop=[])
    with pytest.raises(RuntimeError, match="no outputs for role 'caller'"):
        llm.complete(["p"], role="caller", max_new_tokens=9, stop=[])
    assert cut_at_stop("a\nB\nC", ["\nC", "\nB"]) == "a"


# --- OpenAI-compatible HTTP ------------------------------------------------------------------------

class _Handler(BaseHTTPRequestHandler):
    requests: list[dict] = []

    def do_POST(self):  # noqa: N802 - http.server's naming
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        body["_path"], body["_auth"] = self.path, self.headers.get("Authorization")
        _Handler.requests.append(body)
        if body["model"] == "broken":
            self.send_response(500)
            self.end_headers()
            self.wfile.write(b"model crashed")
            return
        prompts = body["prompt"] if isinstance(body["prompt"], list) else [body["prompt"]]
        choices = [{"index": i, "text": f"[{body['model']}] {p[-5:]}\nObservation: leak"}
                   for i, p in reversed(list(enumerate(prompts)))]
        data = json.dumps({"choices": choices, "usage": {"prompt_tokens": 7, "completion_tokens": 3}})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(data.encode())

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = HTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    _Handler.requests = []
    yield f"http://127.0.0.1:{httpd.server_port}/v1"
    httpd.shutdown()
    httpd.server_close()


def test_openai_backend_per_role_models_stop_and_order(server):
    llm = OpenAIBackend({"planner": Endpoint(server, "umi-planner", api_key="k"),
                         "*": Endpoint(server, "umi-{role}")})
    out = llm.complete(["first", "second"], role="planner", max_new_tokens=11, stop=planner.STOP)
    assert out == ["[umi-planner] first", "[umi-planner] econd"]  # ordered by index, cut at stop
    req = _Handler.requests[-1]
    assert req["_path"] == "/v1/completions" and req["_auth"] == "Bearer k"
    assert req["max_tokens"] == 11 and req["temperature"] == 0
    assert req["stop"] == planner.STOP[:4]  # servers cap stop strings; the rest are cut client-side
    assert llm.complete(["x"], role="caller", max_new_tokens=5, stop=[])[0].startswith("[umi-caller] x")
    assert llm.prompt_tokens == 14 and llm.completion_tokens == 6


def test_openai_backend_sends_extra_fields_and_keeps_the_raw_choices(server):
    llm = OpenAIBackend(Endpoint(server, "m"), extra_body={"return_token_ids": True, "model": "ignored"})
    llm.complete(["one", "two"], role="caller", max_new_tokens=3, stop=[])
    req = _Handler.requests[-1]
    assert req["return_token_ids"] is True and req["model"] == "m"  # extras never override the request
    assert [c["index"] for c in llm.last_choices] == [0, 1]  # in prompt order, as sent
    assert llm.last_choices[1]["text"].startswith("[m] two\nObservation")  # before any stop cut


def test_openai_backend_errors_name_the_endpoint(server):
    with pytest.raises(BackendError, match="answered 500 for role 'planner': model crashed"):
        OpenAIBackend(Endpoint(server, "broken")).complete(["x"], role="planner", max_new_tokens=5, stop=[])
    with pytest.raises(BackendError, match="no endpoint configured for role 'caller'"):
        OpenAIBackend({"planner": Endpoint(server, "m")}).complete(["x"], role="caller",
                                                                   max_new_tokens=5, stop=[])
    dead = "http://127.0.0.1:9/v1"  # the discard port: nothing listens
    with pytest.raises(BackendError, match="cannot reach"):
        OpenAIBackend(Endpoint(dead, "m"), timeout=2).complete(["x"], role="planner", max_new_tokens=5, stop=[])


@pytest.mark.slow
def test_lean_runner_matches_generate_on_the_embedded_model():
    from transformers import AutoModelForCausalLM

    from multiagentllm.models.backends.hf import HFBackend, RoleModel
    from multiagentllm.models.load import load_tokenizer, resolve_base
    from multiagentllm.models.tokens import encode

    path = resolve_base("embedded")
    tok, model = load_tokenizer(path), AutoModelForCausalLM.from_pretrained(path).eval()
    backend = HFBackend(tok, {"planner": RoleModel(model)})
    prompt = tok.apply_chat_template([{"role": "user", "content": "Tell me about flights to Paris."}],
                                     tokenize=False, add_generation_prompt=True)
    ids = torch.tensor([encode(tok, prompt)])
    with torch.no_grad():
        ref = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=40)
    expected = tok.decode(ref[0, ids.shape[1]:], skip_special_tokens=True)
    assert backend.complete([prompt], role="planner", max_new_tokens=40, stop=[]) == [expected]
