"""`umi export gguf` and the llama.cpp runner on a tiny random Llama: the exported backbone with
each role's runtime LoRA gives the torch runtime's logits and greedy text (free, grammar-
constrained, with drafts, with prefix reuse), and so does each role merged into its own model; exports llama.cpp cannot take are refused with the
part named; a missing native build falls back with one warning."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("llama_cpp", reason="llama-cpp-python (native build) not installed")

from multiagentllm.checkpoint import ExportError  # noqa: E402
from multiagentllm.models import load_llm  # noqa: E402
from multiagentllm.models.backends.llamacpp import LlamaCppError, load_gguf  # noqa: E402
from multiagentllm.models.gguf import export_gguf, interleave_rotary  # noqa: E402
from multiagentllm.roles.grammar import caller_grammar, planner_grammar  # noqa: E402
from tiny_llama import gguf_template, random_lora, tiny_base, write_manifest  # noqa: E402

TRIO = ("planner", "caller", "summarizer")
TEXT = ["Rationale: I should search flights first.\nNext: Caller\nAction: search_flights",
        'Action Input: {"origin": "New York", "destination": "Los Angeles"}',
        "The flight UA 12 leaves at 9:15 and costs 180 dollars. Booked for Ada."]
PROMPTS = ["Book me a flight from New York to Los Angeles",
           "Rationale: I should search flights first.\nNext:",
           'Action: search_flights\nAction Input: {"origin": "New',
           "The flight UA 12 leaves at"]
TOOL = {"name": "search_flights", "description": "Find flights.",
        "parameters": {"type": "object", "properties": {
            "origin": {"enum": ["New York", "Boston"]}, "destination": {"enum": ["Los Angeles", "Denver"]},
            "nonstop": {"type": "boolean"}}, "required": ["origin", "destination"]}}


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ckpt")
    base = root / "base"
    tiny_base(base, TEXT, hidden=64, intermediate=128, max_positions=512)
    for i, name in enumerate(("stage1_backbone", *TRIO, "single")):
        random_lora(base, root / name, seed=i + 1, rank=4 + 4 * (i % 2), dtype=torch.bfloat16)
    write_manifest(root, base, {**dict.fromkeys(TRIO, "stage1"), "single": "stage1"})
    gguf_template(root / "template.gguf", base)
    return root


@pytest.fixture(scope="module")
def exported(ckpt, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("gguf") / "export"
    export_gguf(ckpt, out, base_gguf=ckpt / "template.gguf")
    return out


@pytest.fixture(scope="module")
def torch_llm(ckpt):
    return load_llm(ckpt, draft_tokens=0)


@pytest.fixture(scope="module")
def cpp_llm(exported):
    return load_gguf(exported, draft_tokens=0)


def test_export_writes_the_backbone_the_adapters_and_how_to_serve_them(ckpt, exported):
    info = json.loads((exported / "export.json").read_text())
    assert info["backbone"] == "backbone.gguf" and info["dtype"] == "float32"
    assert set(info["adapters"]) == {*TRIO, "single"}
    for path in info["adapters"].values():
        assert (exported / path).stat().st_size > 0
    serve = (exported / "serve.md").read_text()
    assert f"llama-server -m {exported / 'backbone.gguf'}" in serve
    assert "--lora-init-without-apply" in serve and "ADAPTER" in serve
    import gguf

    reader = gguf.GGUFReader(exported / "adapters" / "caller.gguf")
    assert reader.fields["general.type"].contents() == "adapter"
    assert any(t.name == "blk.0.attn_q.weight.lora_b" for t in reader.tensors)


def test_interleave_rotary_pairs_each_heads_halves():
    import numpy as np

    w = np.arange(8)[:, None].repeat(2, 1)  # one head of dim 8: pairs (0,4) (1,5) (2,6) (3,7)
    assert interleave_rotary(w, heads=1)[:, 0].tolist() == [0, 4, 1, 5, 2, 6, 3, 7]


@pytest.mark.parametrize("role", TRIO)
def test_logits_match_the_torch_runtime(torch_llm, cpp_llm, role):
    from multiagentllm.models.tokens import encode

    ids = torch.tensor([encode(torch_llm.tokenizer, PROMPTS[0])])
    entry = torch_llm.role(role)
    entry.model.set_adapter(entry.adapter)
    want = torch_llm.runner(entry.model).prefill(ids, None, ids.shape[1] + 1)[0]
    cpp_llm.model.truncate(role, 0)
    got = cpp_llm.runner(role).prefill(ids, None, ids.shape[1] + 1)[0]
    assert got.shape == want.shape
    assert torch.allclose(got, want, atol=2e-3, rtol=1e-3), (got - want).abs().max()


def _greedy(runner, ids: list[int], n: int) -> tuple[list[int], list[float]]:
    """n greedy tokens from a runner, with the gap between the best and second-best logit at each."""
    logits = runner.prefill(torch.tensor([ids]), None, len(ids) + n)[0]
    tokens, gaps = [], []
    for _ in range(n):
        top = logits.float().topk(2).values
        tokens.append(int(logits.argmax()))
        gaps.append(float(top[0] - top[1]))
        logits = runner.decode(torch.tensor([tokens[-1]]))[0]
    return tokens, gaps


@pytest.mark.parametrize("role", TRIO)
def test_greedy_tokens_equal_the_torch_runtime_up_to_float_ties(torch_llm, cpp_llm, role):
    """Token for token, or the first difference is a near-tie: the torch runtime's best two
    logits there are closer than the two engines' logits differ (float32 rounding in another
    order). A random tiny model has many such ties; the shipped trio's text is compared in
    benchmarks/bench_decode.py."""
    from multiagentllm.models.tokens import encode

    entry = torch_llm.role(role)
    entry.model.set_adapter(entry.adapter)
    for prompt in PROMPTS:
        ids = encode(torch_llm.tokenizer, prompt)
        want, gaps = _greedy(torch_llm.runner(entry.model), ids, 24)
        got, _ = _greedy(cpp_llm.runner(role), ids, 24)
        if got != want:
            first = next(i for i, (a, b) in enumerate(zip(got, want)) if a != b)
            assert gaps[first] < 1e-2, (prompt, first, gaps[first])


@pytest.fixture(scope="module")
def merged(ckpt, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("gguf") / "merged"
    export_gguf(ckpt, out, base_gguf=ckpt / "template.gguf", merge_roles=True)
    return out


def test_merged_export_writes_one_full_model_per_role(merged):
    import gguf

    info = json.loads((merged / "export.json").read_text())
    assert "backbone" not in info and "adapters" not in info
    assert info["models"] == {r: f"roles/{r}.gguf" for r in (*TRIO, "single")}
    assert not (merged / "adapters").exists()
    reader = gguf.GGUFReader(merged / "roles" / "caller.gguf")
    assert not any(t.name.endswith((".lora_a", ".lora_b")) for t in reader.tensors)
    serve = (merged / "serve.md").read_text()
    assert f"llama-server -m {merged / 'roles' / 'planner.gguf'}" in serve and "--lora" not in serve


@pytest.mark.parametrize("role", TRIO)
def test_merged_roles_give_the_runtime_loras_logits_and_greedy_text(torch_llm, merged, role):
    """Each role merged into its own model (no adapter at run time) against the torch runtime,
    which applies the LoRA unmerged: the same logits, and greedy tokens up to float ties as in
    test_greedy_tokens_equal_the_torch_runtime_up_to_float_ties."""
    from multiagentllm.models.tokens import encode

    llm = load_gguf(merged, draft_tokens=0)
    assert len({id(llm.runner(r).model) for r in TRIO}) == 3
    entry = torch_llm.role(role)
    entry.model.set_adapter(entry.adapter)
    ids = torch.tensor([encode(torch_llm.tokenizer, PROMPTS[0])])
    want = torch_llm.runner(entry.model).prefill(ids, None, ids.shape[1] + 1)[0]
    got = llm.runner(role).prefill(ids, None, ids.shape[1] + 1)[0]
    assert torch.allclose(got, want, atol=2e-3, rtol=1e-3), (got - want).abs().max()
    for prompt in PROMPTS:
        ids = encode(torch_llm.tokenizer, prompt)
        want, gaps = _greedy(torch_llm.runner(entry.model), ids, 24)
        got, _ = _greedy(llm.runner(role), ids, 24)
        if got != want:
            first = next(i for i, (a, b) in enumerate(zip(got, want)) if a != b)
            assert gaps[first] < 1e-2, (prompt, first, gaps[first])
    with pytest.raises(AttributeError, match="one model per role"):
        llm.model
    llm.close()


def test_merged_roles_may_sit_on_different_weights(ckpt, tmp_path):
    """Roles trained on different weights cannot share one backbone, but each can be merged."""
    mixed = _copy(ckpt, tmp_path)
    write_manifest(mixed, ckpt / "base", {"planner": "stage1", "caller": "base", "summarizer": "stage1"})
    with pytest.raises(ExportError, match="--merge-roles"):
        export_gguf(mixed, tmp_path / "shared", base_gguf=ckpt / "template.gguf")
    export_gguf(mixed, tmp_path / "merged", base_gguf=ckpt / "template.gguf", merge_roles=True)
    llm, runtime = load_gguf(tmp_path / "merged", draft_tokens=0), load_llm(mixed, draft_tokens=0)
    from multiagentllm.models.tokens import encode

    ids = torch.tensor([encode(runtime.tokenizer, PROMPTS[0])])
    for role in TRIO:
        entry = runtime.role(role)
        if entry.adapter:
            entry.model.set_adapter(entry.adapter)
        want = runtime.runner(entry.model).prefill(ids, None, ids.shape[1] + 1)[0]
        got = llm.runner(role).prefill(ids, None, ids.shape[1] + 1)[0]
        assert torch.allclose(got, want, atol=2e-3, rtol=1e-3), (role, (got - want).abs().max())
    llm.close()


def test_drafts_and_prefix_reuse_keep_the_greedy_text(torch_llm, exported):
    llm = load_gguf(exported, draft_tokens=8)
    kw = dict(role="caller", max_new_tokens=24, stop=[])
    base = llm.complete([PROMPTS[2]], **kw)
    longer = PROMPTS[2] + base[0][:10]
    assert llm.complete([longer], **kw) == torch_llm.complete([longer], **kw)
    assert llm.roles["caller"].reused_tokens > 0  # the second prompt re-used the first's cache
    assert llm.roles["caller"].proposed > 0
    assert llm.complete([PROMPTS[2]], **kw) == base


@pytest.mark.parametrize("drafts", [0, 8])
def test_constrained_turns_follow_the_grammar(exported, drafts):
    import jsonschema

    from multiagentllm.roles import caller, planner
    from multiagentllm.roles.grammar import arguments_schema

    llm = load_gguf(exported, draft_tokens=drafts)
    calls = llm.complete(PROMPTS, role="caller", max_new_tokens=120, stop=caller.STOP,
                         constraint=caller_grammar([TOOL]))
    for text in calls:  # a random model writes a valid call, or runs out of tokens inside one
        call = caller.parse(text)
        assert call.name == "search_flights", text
        jsonschema.validate(call.arguments, arguments_schema(TOOL))
    plans = llm.complete(PROMPTS, role="planner", max_new_tokens=80, stop=planner.STOP,
                         constraint=planner_grammar())
    for text in plans:
        assert text.startswith("Rationale: ")
        if "\nNext:" in text:
            assert planner.parse(text)[1] in ("caller", "summarizer", "give_up")


def test_unknown_role_and_missing_export_are_named(cpp_llm, tmp_path):
    with pytest.raises(KeyError, match="no 'judge' model"):
        cpp_llm.complete(["x"], role="judge", max_new_tokens=2, stop=[])
    with pytest.raises(LlamaCppError, match="export.json"):
        load_gguf(tmp_path)


def _copy(ckpt: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "ckpt"
    shutil.copytree(ckpt, dest)
    return dest


def test_exports_llama_cpp_cannot_take_are_refused_with_the_part_named(ckpt, tmp_path):
    with pytest.raises(ExportError, match="--base-gguf"):  # not the embedded base, no template
        export_gguf(ckpt, tmp_path / "a")
    bad = _copy(ckpt, tmp_path)
    config = json.loads((bad / "caller" / "adapter_config.json").read_text())
    (bad / "caller" / "adapter_config.json").write_text(json.dumps({**config, "use_dora": True}))
    with pytest.raises(ExportError, match=r"caller.*use_dora"):
        export_gguf(bad, tmp_path / "b", base_gguf=ckpt / "template.gguf")
    assert not (tmp_path / "b").exists()
    with pytest.raises(ExportError, match="does not read as GGUF"):
        (tmp_path / "junk.gguf").write_text("not a gguf")
        export_gguf(ckpt, tmp_path / "c", base_gguf=tmp_path / "junk.gguf")


def test_a_template_of_another_model_is_refused(ckpt, tmp_path):
    other = tmp_path / "other"
    tiny_base(other, TEXT, hidden=32, intermediate=64)
    with pytest.raises(ExportError, match="embedding_length"):
        export_gguf(ckpt, tmp_path / "out", base_gguf=gguf_template(tmp_path / "o.gguf", other))


def test_cli_exports_and_umi_loads_the_export_as_a_checkpoint(ckpt, tmp_path):
    from typer.testing import CliRunner

    from multiagentllm.cli import app
    from multiagentllm.models.backends.llamacpp import LlamaCppBackend

    out = tmp_path / "gguf"
    args = ["export", "gguf", "--checkpoint", str(ckpt), "--out", str(out), "--base-gguf",
            str(ckpt / "template.gguf")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert json.loads((out / "export.json").read_text())["dtype"] == "float16"
    assert f"umi run " in (out / "serve.md").read_text()
    assert isinstance(load_llm(out), LlamaCppBackend)
    again = CliRunner().invoke(app, args)  # a non-empty --out needs --force
    assert again.exit_code == 2 and "--force" in again.output


@pytest.mark.parametrize("dtype,tolerance", [("float16", 0.01), ("bfloat16", 0.03), ("q8_0", 0.15)])
def test_smaller_backbones_stay_close_to_the_float32_logits(ckpt, torch_llm, tmp_path, dtype, tolerance):
    """The backbone in 16 or 8 bits (norms and adapters stay float32): every logit of the
    prompt within `tolerance` of the torch runtime's, relative to their spread."""
    from multiagentllm.models.tokens import encode

    out = tmp_path / dtype
    export_gguf(ckpt, out, dtype=dtype, base_gguf=ckpt / "template.gguf")
    assert json.loads((out / "export.json").read_text())["dtype"] == dtype
    llm = load_gguf(out, draft_tokens=0)
    ids = torch.tensor([encode(torch_llm.tokenizer, PROMPTS[0])])
    entry = torch_llm.role("caller")
    entry.model.set_adapter(entry.adapter)
    want = torch_llm.runner(entry.model).prefill(ids, None, ids.shape[1] + 1)[0]
    got = llm.runner("caller").prefill(ids, None, ids.shape[1] + 1)[0]
    error = float((got - want).abs().max() / (want.max() - want.min()))
    assert error < tolerance, error
    llm.model.close()
