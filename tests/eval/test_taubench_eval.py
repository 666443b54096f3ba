"""tau-bench retail benchmark: the real agent and the retail tools, scored by the database state."""

import json

import pytest

from multiagentllm.agent import AgentConfig
from multiagentllm.data.loaders.taubench import parse_tasks, play_task
from multiagentllm.eval.generate import System
from multiagentllm.eval.benchmarks.taubench import default_tasks, evaluate_taubench, load_items, run_item
from multiagentllm.tools.library import retail

DEV = default_tasks()
pytestmark = pytest.mark.skipif(not (retail.available() and DEV.exists()), reason="tau-bench retail data not found")


def gold_player(refs, wrong=None):
    """Plays the careful-agent trajectory of each task (`play_task`); `wrong` swaps a write's
    arguments (a wrong write)."""
    def respond(role, prompt):
        ref = next(t for t in refs if f"<s> {t.instruction} </s>" in prompt)
        done = prompt.count("\nObservation: ")
        if prompt.endswith("Answer:\n"):
            return ref.answer
        if prompt.endswith("Next: Caller\n"):
            a = ref.steps[done].action
            args = wrong(a) if wrong else a.arguments
            return f"Action: {a.name}\nAction Input: {json.dumps(args)}"
        step = ref.steps[done]
        return f"Rationale: {step.rationale}\nNext: {'Caller' if step.next == 'caller' else 'Summarizer'}"
    return respond


@pytest.fixture(scope="module")
def refs():
    tasks = list(parse_tasks(DEV))[:2]  # a cancellation and a two-item exchange
    items = load_items(DEV)[:2]
    out = [play_task(t, DEV.parent / "data", split="dev") for t in tasks]
    for ref, item in zip(out, items):  # the benchmark's request is the loader's
        assert ref.instruction == item.instruction
    return out


def test_dev_items():
    items = load_items()
    assert len(items) == 20 and items[0].id == "taubench-dev-0"
    assert items[0].instruction.startswith("My name is Olivia Ito and my zip code is 80218. I've ordered an item")
    assert [c.name for c in items[0].actions] == ["cancel_pending_order"]
    assert all(not i.gold_errors for i in items)
    # a task whose gold is to change nothing passes only if the database is left as it was
    assert items[17].actions == [] and items[17].gold_hash == retail.RetailDB.load(items[17].data).state_hash()


def test_playing_the_gold_trajectory_passes(refs, scripted):
    items = load_items(DEV)[:2]
    for item in items:
        record = run_item(scripted(gold_player(refs)), item)
        assert record["passed"], record
        assert record["status"] == "solved"
        assert [c["name"] for c in record["calls"]][-1] == item.actions[-1].name


def test_a_wrong_write_fails(refs, scripted):
    def cancel_for_other_reason(action):
        if action.name == "cancel_pending_order":
            return {**action.arguments, "reason": "ordered by mistake"}
        return action.arguments

    record = run_item(scripted(gold_player(refs, wrong=cancel_for_other_reason)), load_items(DEV)[0])
    assert not record["passed"] and record["reason"].startswith("the database state differs")


def test_evaluate_reports_a_pass_rate(refs, scripted, tmp_path):
    report, records = evaluate_taubench(DEV, System(scripted(gold_player(refs)), agent=AgentConfig(max_tools=None)), limit=2,
                                        cache=tmp_path / "c.jsonl", progress=False)
    assert report["benchmark"] == "taubench" and report["n"] == 2 and report["pass_rate"] == 1.0, records
    assert report["max_tools"] is None and report["gold_errors"] == 0 and report["bad_items"] == 0


def test_cli_names_a_bad_task_file(tmp_path):
    from typer.testing import CliRunner

    from multiagentllm.eval.cli import app

    bad = tmp_path / "tasks_dev.py"
    bad.write_text("TASKS_DEV = [\n    Task(\n")
    result = CliRunner().invoke(app, ["taubench", "--data", str(bad), "--endpoint", "http://127.0.0.1:9/v1",
                                      "--model", "m", "--out", str(tmp_path / "r.json")], env={"COLUMNS": "1000"})
    assert result.exit_code != 0 and "tasks_dev.py:2: not valid Python" in result.output


def test_the_suite_runs_it_with_every_tool_and_pairs_its_items(refs, scripted, tmp_path):
    """As a registered benchmark: found under the datasets root, run with every retail tool offered
    whatever the suite's --max-tools, and its per-item records read by `eval paired`."""
    from rich.console import Console

    from multiagentllm.eval import paired
    from multiagentllm.eval.benchmarks import BENCHMARKS, DEFAULT, Missing, Where
    from multiagentllm.paths import default_data_root

    bench = BENCHMARKS["taubench"]
    assert "taubench" in DEFAULT and bench.limit == "taubench"
    where = Where(tmp_path, default_data_root(), tmp_path, None, 0, Console())
    items = bench.find(where, 2)
    assert items.inputs == [DEV] and items.limit == 2 and DEV in items.files
    assert any(f.name == "orders.json" for f in items.files)  # a database change recomputes the report
    system = System(scripted(gold_player(refs)), agent=AgentConfig(max_tools=5))
    report, records, gen = bench.run(items, system, tmp_path / "cache.jsonl", 8)
    assert gen is None and report["max_tools"] is None and report["pass_rate"] == 1.0, records
    a, b = tmp_path / "a.items.jsonl", tmp_path / "b.items.jsonl"
    a.write_text("".join(json.dumps(r) + "\n" for r in records))
    b.write_text("".join(json.dumps({**r, "passed": False}) + "\n" for r in records))
    (row,) = paired.compare("taubench", a, b)
    assert (row.figure, row.n, row.a, row.b, row.a_better) == ("pass_rate", 2, 1.0, 0.0, 2)

    elsewhere = Where(tmp_path, tmp_path / "no-datasets", tmp_path, None, 0, Console())
    with pytest.raises(Missing, match="tasks_dev.py not found .set UMI_DATA_ROOT"):
        bench.find(elsewhere, None)


def test_failures_read_a_taubench_item_against_its_gold_writes(refs, scripted, tmp_path):
    """The items carry their reference (the gold writes): a look-up they leave out is no wrong
    tool, a wrong write's arguments are a wrong argument, a missing required output is a fact."""
    from multiagentllm.eval import failures

    def cancel_for_other_reason(action):
        if action.name == "cancel_pending_order":
            return {**action.arguments, "reason": "ordered by mistake"}
        return action.arguments

    item = load_items(DEV)[0]
    wrong = run_item(scripted(gold_player(refs, wrong=cancel_for_other_reason)), item)
    assert {c["name"] for c in wrong["calls"]} - {a.name for a in item.actions}  # it made look-ups too
    no_output = {**run_item(scripted(gold_player(refs)), item), "passed": False,
                 "reason": "answer misses a fact: it does not state '10'"}
    no_write = {**wrong, "calls": [c for c in wrong["calls"] if c["name"] != "cancel_pending_order"]}
    other_write = {**no_write, "calls": [*no_write["calls"], {"name": "return_delivered_order_items",
                                                              "arguments": {"order_id": "#W1"}}]}
    rows = [dict(r, id=f"taubench-dev-{k}") for k, r in enumerate([wrong, no_output, no_write, other_write])]
    (tmp_path / "taubench-alpha-umi.items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    analysis = failures.analyse(tmp_path)
    result = analysis["benchmarks"]["taubench"]
    assert result["references"] == "gold_actions" and result["references_found"] == 4
    assert {c: v["count"] for c, v in result["categories"].items() if v["count"]} == \
        {"wrong_argument": 1, "answer_misses_fact": 1, "stopped_early": 1, "wrong_tool": 1}
    assert "return_delivered_order_items instead of cancel_pending_order" in \
        result["categories"]["wrong_tool"]["examples"][0]["why"]
    assert "read from the items' gold write actions" in failures.markdown(analysis)
