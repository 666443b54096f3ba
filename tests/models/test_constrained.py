"""Schema-constrained decoding: role grammars compile, the in-process decoders (lean runner with
and without drafts, the model's own forward) only write what the grammar allows, and where the
free output already fits the grammar the constrained output is the same text."""

from __future__ import annotations

import json
import warnings

import jsonschema
import pytest

pytest.importorskip("torch")

from test_backends import PROMPTS, TEXTS, ckpt, plain, trio  # noqa: E402,F401 - shared fixtures

from multiagentllm.models.backends.constrain import Constrainer  # noqa: E402
from multiagentllm.roles import caller, planner  # noqa: E402
from multiagentllm.roles.grammar import (  # noqa: E402
    DECISION, PLANNER, Grammar, GrammarWarning, arguments_schema, caller_grammar,
)
from multiagentllm.tools import default_registry  # noqa: E402

# Finite argument languages (enums, booleans, nested objects and arrays of them), so that even a
# random tiny model ends its call within the token budget.
SET_UNITS = {"name": "set_units", "description": "", "parameters": {
    "type": "object", "properties": {
        "unit": {"type": "string", "enum": ["c", "f"]},
        "options": {"type": "object", "properties": {"metric": {"type": "boolean"}}, "required": ["metric"],
                    "additionalProperties": False},
        "days": {"type": "array", "items": {"enum": ["mon", "tue"]}, "maxItems": 2}},
    "required": ["unit", "options", "days"]}}
# More prompts, so that some of a random model's outputs are clean text (no stray byte tokens).
MANY = PROMPTS + [t[:n] for t in TEXTS for n in (12, 30)]
TOGGLE = {"name": "toggle", "description": "", "parameters": {
    "type": "object", "properties": {"on": {"type": "boolean"}}, "required": ["on"]}}


def test_every_role_grammar_and_every_builtin_tool_compiles(trio):
    from llguidance import LLMatcher

    tools = default_registry().schemas()
    for grammar in (caller_grammar(tools), PLANNER, DECISION, caller_grammar([SET_UNITS, TOGGLE])):
        assert LLMatcher.validate_grammar(LLMatcher.grammar_from_lark(grammar.lark)) == ""
    assert caller_grammar([]) is None
    # the schema keeps the tool's argument order (the order training rendered) and forbids extras
    schema = arguments_schema(tools[0])
    assert list(schema["properties"]) == list(tools[0]["parameters"]["properties"])
    assert schema["additionalProperties"] is False


def test_unsupported_keywords_fall_back_with_a_warning_naming_tool_and_keyword():
    odd = {"name": "odd_tool", "parameters": {"type": "object", "properties": {
        "ids": {"type": "array", "items": {"type": "integer"}, "uniqueItems": True}}, "required": ["ids"]}}
    with pytest.warns(GrammarWarning, match=r"odd_tool.*'uniqueItems'"):
        schema = arguments_schema(odd)
    assert "uniqueItems" not in json.dumps(schema) and schema["required"] == ["ids"]
    broken = {"name": "broken_tool", "parameters": {"type": "object", "properties": {"x": {"type": "str"}}}}
    with pytest.warns(GrammarWarning, match="broken_tool.*only to be a JSON object"):
        assert arguments_schema(broken)["type"] == "object"


def _check_call(text: str, tools: list[dict]) -> None:
    call = caller.parse(text)
    offered = {t["name"]: t for t in tools}
    assert call.name in offered, text
    jsonschema.validate(call.arguments, arguments_schema(offered[call.name]))


@pytest.mark.parametrize("drafts", [0, 6])
def test_a_random_model_writes_only_valid_calls_under_the_caller_grammar(trio, drafts):
    tools = [SET_UNITS, TOGGLE]
    grammar = caller_grammar(tools)
    saved = trio.draft_tokens
    try:
        trio.draft_tokens = drafts
        outs = trio.complete(PROMPTS, role="caller", max_new_tokens=120, stop=caller.STOP, constraint=grammar)
        free = trio.complete(PROMPTS, role="caller", max_new_tokens=40, stop=caller.STOP)
    finally:
        trio.draft_tokens = saved
    for out in outs:
        _check_call(out, tools)
    assert not any(f.startswith("Action: set_units") or f.startswith("Action: toggle") for f in free)


def test_planner_grammar_keeps_the_turn_in_its_format(trio):
    from llguidance import LLMatcher

    outs = trio.complete(PROMPTS, role="planner", max_new_tokens=60, stop=planner.STOP, constraint=PLANNER)
    lltok = trio._constrainer.tokenizer
    for out in outs:  # a random model may not finish in 60 tokens, but never leaves the format
        assert out.startswith("Rationale: ")
        m = LLMatcher(lltok, LLMatcher.grammar_from_lark(PLANNER.lark))
        assert m.consume_tokens(lltok.tokenize_str(out)), out
        if "\nNext:" in out:
            assert planner.parse(out)[1] in ("caller", "summarizer", "give_up")
    decision = trio.complete(PROMPTS, role="planner", max_new_tokens=6, stop=planner.STOP, constraint=DECISION)
    assert set(decision) <= {" Caller", " Summarizer", " Give up"}


def test_drafts_keep_the_constrained_greedy_text_and_rejected_drafts_end_early(trio):
    runner = trio.runner(trio.role("caller").model)
    history = "\n".join(TEXTS)
    prompts = [history + "\n" + history[:200], history + "\nAction Input:", PROMPTS[2] * 3]
    grammar = Grammar('start: "Action: search_flights\\nAction Input: " %json{"type": "object", '
                      '"properties": {"origin": {"type": "string", "maxLength": 12}}, "required": ["origin"], '
                      '"additionalProperties": false}', "caller")
    saved = trio.draft_tokens
    try:
        trio.draft_tokens = 0
        no_drafts = [trio.complete([p], role="caller", max_new_tokens=40, stop=[], constraint=grammar)[0]
                     for p in prompts]
        trio.draft_tokens = 6
        before = runner.proposed
        drafted = [trio.complete([p], role="caller", max_new_tokens=40, stop=[], constraint=grammar)[0]
                   for p in prompts]
    finally:
        trio.draft_tokens = saved
    assert drafted == no_drafts
    assert runner.proposed > before  # drafts were tried (and cut where the grammar refused them)


def test_a_grammar_the_free_output_satisfies_changes_nothing(trio, plain):
    compared = 0
    for llm in (trio, plain):
        for role in ("planner", "caller"):
            free = llm.complete(MANY, role=role, max_new_tokens=8, stop=[])
            for prompt, text in zip(MANY, free):
                if "\ufffd" in text:  # a random model's stray byte tokens are not text a grammar matches
                    continue
                compared += 1
                # the output's first characters as a literal, then anything: the free text fits
                head = json.dumps(text[:4])
                grammar = Grammar(f"start: {head} /(.|\\n)*/", role)
                got = llm.complete([prompt], role=role, max_new_tokens=8, stop=[], constraint=grammar)[0]
                assert got == text
    assert compared >= 4


def test_masks_are_computed_only_where_the_model_strays(trio):
    from multiagentllm.models.backends.decode import generate
    from multiagentllm.models.tokens import eos_ids
    from multiagentllm.models.tokens import encode

    model = trio.role("caller").model
    trio.complete(["x"], role="caller", max_new_tokens=1, stop=[])  # activates the caller adapter
    runner = trio.runner(model)
    clean = [(p, t) for p, t in zip(MANY, trio.complete(MANY, role="caller", max_new_tokens=12, stop=[]))
             if "\ufffd" not in t]
    prompt, free = clean[0]
    fits = trio.matcher(model, Grammar(f"start: {json.dumps(free[:3])} /(.|\\n)*/", "caller"))
    strays = trio.matcher(model, Grammar('start: "Next: " ("Caller" | "Summarizer")', "planner"))
    for m in (fits, strays):
        generate(runner, trio.tokenizer, [encode(trio.tokenizer, prompt)], max_new_tokens=12, stop=[],
                 eos=eos_ids(model, trio.tokenizer), pad_id=trio.pad_id, matchers=[m])
    assert fits.masks == 0 and strays.masks > 0


def test_batched_rows_each_follow_their_own_grammar(trio):
    grammars = [caller_grammar([TOGGLE]), None, caller_grammar([SET_UNITS])]
    outs = trio.complete(PROMPTS, role="caller", max_new_tokens=120, stop=caller.STOP, constraint=grammars)
    _check_call(outs[0], [TOGGLE])
    _check_call(outs[2], [SET_UNITS])
    assert outs[1] == trio.complete(PROMPTS[1:2], role="caller", max_new_tokens=120, stop=caller.STOP)[0]
    with pytest.raises(ValueError, match="2 constraints for 3 prompts"):
        trio.complete(PROMPTS, role="caller", max_new_tokens=4, stop=[], constraint=grammars[:2])


def test_constrainer_reports_a_grammar_that_does_not_compile(trio):
    from multiagentllm.models.backends.constrain import GrammarError

    c = Constrainer(trio.tokenizer, 400)
    with pytest.raises(GrammarError, match="caller grammar does not compile"):
        c.matcher(Grammar("start: undefined_rule", "caller"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        c.matcher(PLANNER)  # a good grammar: no warning


# --- OpenAI-compatible endpoints: structured outputs ------------------------------------------------

def _endpoint(accepts: bool):
    """A loopback completions server that takes `structured_outputs` (vLLM) or rejects it (400)."""
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    seen: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's naming
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append(body)
            if "structured_outputs" in body and not accepts:
                self.send_response(400)
                self.end_headers()
                self.wfile.write(b'{"error": "Unknown field: structured_outputs"}')
                return
            data = json.dumps({"choices": [{"index": i, "text": "Rationale: ok\nNext: Caller"}
                                           for i in range(len(body["prompt"]))]})
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(data.encode())

        def log_message(self, *args):
            pass

    httpd = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_port}/v1", seen


def test_an_endpoint_receives_the_grammar_as_structured_outputs():
    from multiagentllm.models.backends.openai_http import Endpoint, OpenAIBackend

    httpd, url, seen = _endpoint(accepts=True)
    try:
        llm = OpenAIBackend(Endpoint(url, "{role}"))
        grammars = [PLANNER, None, PLANNER]
        outs = llm.complete(["a", "b", "c"], role="planner", max_new_tokens=8, stop=planner.STOP, constraint=grammars)
        assert outs == ["Rationale: ok\nNext: Caller"] * 3
        by_grammar = {json.dumps(b.get("structured_outputs")): b["prompt"] for b in seen}
        assert by_grammar == {json.dumps({"grammar": PLANNER.lark}): ["a", "c"], "null": ["b"]}  # one request each
    finally:
        httpd.shutdown()


def test_an_endpoint_that_rejects_structured_outputs_is_reported_once_then_used_free():
    from multiagentllm.models.backends.openai_http import Endpoint, OpenAIBackend

    httpd, url, seen = _endpoint(accepts=False)
    try:
        llm = OpenAIBackend(Endpoint(url, "{role}"))
        with pytest.warns(UserWarning, match="rejected structured output.*unconstrained"):
            assert llm.complete(["a"], role="planner", max_new_tokens=8, stop=[], constraint=PLANNER)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # reported once: the second call neither warns nor retries
            assert llm.complete(["b"], role="planner", max_new_tokens=8, stop=[], constraint=PLANNER)
        assert ["structured_outputs" in b for b in seen] == [True, False, False]
        assert "400" in llm.unconstrained[f"{url}/completions"]
    finally:
        httpd.shutdown()


def test_free_strings_are_bounded_so_a_call_can_close_within_the_budget():
    from multiagentllm.roles.grammar import STRING_CHARS

    tool = {"name": "hub_load", "parameters": {"type": "object", "properties": {
        "repo": {"type": "string"}, "tag": {"type": "string", "maxLength": 10},
        "mode": {"type": "string", "enum": ["a", "b"]},
        "files": {"type": "array", "items": {"type": "string"}}}, "required": ["repo"]}}
    props = arguments_schema(tool)["properties"]
    assert props["repo"]["maxLength"] == STRING_CHARS and props["tag"]["maxLength"] == 10
    assert "maxLength" not in props["mode"] and props["files"]["items"]["maxLength"] == STRING_CHARS
    assert props["files"]["maxItems"] == 16
    assert len(caller.parse('Action: hub_load\nAction Input: {"repo": "' + "x" * STRING_CHARS + '"}').arguments["repo"]) \
        == STRING_CHARS


NOTE = {"name": "note", "description": "", "parameters": {
    "type": "object", "properties": {"text": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string"}}},
    "required": ["text", "tags"]}}


def test_a_call_still_open_at_its_budget_is_closed_past_it(trio):
    """A random model writes on inside a free string: at a budget far too small for the call,
    the output still closes into valid JSON (the string, then the required list, then the object)
    within `CLOSING_TOKENS` more tokens; one prompt at a time with and without drafts (same
    text), and batched."""
    from multiagentllm.models.backends.constrain import CLOSING_TOKENS

    grammar = caller_grammar([NOTE])
    saved = trio.draft_tokens
    outs = {}
    try:
        for drafts in (0, 6):
            trio.draft_tokens = drafts
            outs[drafts] = [trio.complete([p], role="caller", max_new_tokens=10, stop=caller.STOP,
                                          constraint=grammar)[0] for p in PROMPTS]
        batch = trio.complete(PROMPTS, role="caller", max_new_tokens=10, stop=caller.STOP, constraint=grammar)
    finally:
        trio.draft_tokens = saved
    assert outs[0] == outs[6]
    for out in outs[0] + batch:
        _check_call(out, [NOTE])
        assert len(trio.tokenizer(out, add_special_tokens=False)["input_ids"]) <= 10 + CLOSING_TOKENS + 1
    free = trio.complete(PROMPTS, role="caller", max_new_tokens=10, stop=caller.STOP)
    assert free != outs[0]  # the budget was really too small: closing changed the text


def test_json_string_state_follows_quotes_and_escapes():
    from multiagentllm.models.backends.constrain import in_string

    assert in_string(False, '{"a": "b') and not in_string(False, '{"a": "b"')
    assert in_string(True, 'x \\" y') and not in_string(True, 'x \\\\" y')
