"""End-to-end pass rate: the real agent loop and real tools on synthesized test tasks."""

import json

import pytest
from eval_helpers import synth_test_tasks

pytest.importorskip("multiagentllm.agent.loop")
pytest.importorskip("multiagentllm.data.synth.engine")

from multiagentllm.data.synth.engine import ChunkResult, families, play_instruction  # noqa: E402
from multiagentllm.eval.generate import System  # noqa: E402
from multiagentllm.eval.benchmarks.passrate import evaluate_passrate  # noqa: E402
from multiagentllm.types import Trajectory  # noqa: E402


@pytest.fixture
def tasks_file(tmp_path):
    result = ChunkResult()
    test_families = [f for f in families() if f.split == "test"]
    for i in range(3):
        play_instruction(0, i, test_families, result)
    rows = [r for r in result.trajectories if r["meta"].get("variant") == 0][:3]
    assert rows and all(r["meta"]["split"] == "test" for r in rows)
    train = dict(rows[0], id="train-copy", meta={**rows[0]["meta"], "split": "train"})
    path = tmp_path / "synth.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows + [train]) + "{bad\n")
    return path, [Trajectory.from_dict(r) for r in rows]


def _replayer(refs, answer=None):
    """Plays each reference trajectory: the planner's decisions, the calls, the answer."""
    by_instruction = {t.instruction: t for t in refs}

    def respond(role, prompt):
        ref = next(t for i, t in by_instruction.items() if f"<s> {i} </s>" in prompt)
        done = prompt.count("\nObservation: ")
        if prompt.endswith("Answer:\n"):
            return answer or ref.answer
        if prompt.endswith("Next: Caller\n"):
            a = ref.steps[done].action
            return f"Action: {a.name}\nAction Input: {json.dumps(a.arguments)}"
        step = ref.steps[done]
        label = {"caller": "Caller", "summarizer": "Summarizer", "give_up": "Give up"}[step.next]
        return f"Rationale: {step.rationale}\nNext: {label}"
    return respond


def test_replaying_the_reference_passes(tasks_file, scripted, tmp_path):
    path, refs = tasks_file
    report, records = evaluate_passrate(path, System(scripted(_replayer(refs))), cache=tmp_path / "c.jsonl",
                                        progress=False)
    assert report["n"] == len(refs) and report["bad_items"] == 1
    assert report["pass_rate"] == 1.0, records
    assert set(report["groups"]) == {r.meta["family"] for r in refs}


def test_a_wrong_answer_or_no_answer_fails_with_a_reason(tasks_file, scripted):
    path, refs = tasks_file
    report, records = evaluate_passrate(path, System(scripted(_replayer(refs, answer="I am not sure."))),
                                        progress=False)
    assert report["pass_rate"] == 0.0
    assert all(r["reason"] == "answer misses a fact" for r in records if r["status"] == "solved")
    report, records = evaluate_passrate(path, System(scripted(lambda r, p: "Rationale: no\nNext: Give up")),
                                        progress=False, limit=1)
    assert report["pass_rate"] == 0.0 and "given_up" in records[0]["reason"]


def test_no_test_split_is_an_error(tmp_path, scripted):
    path = tmp_path / "empty.jsonl"
    path.write_text("")
    with pytest.raises(ValueError, match="no playable tasks of the held-out families"):
        evaluate_passrate(path, System(scripted(lambda r, p: "")), progress=False)
    row = {"id": "real-1", "instruction": "Area of a 5x5 square?", "source": "bfcl", "outcome": "given_up",
           "tools": [{"name": "square_area", "description": "Area.", "parameters": {"type": "object", "properties": {}}}],
           "steps": [{"rationale": "No tool fits.", "next": "give_up"}], "meta": {"split": "test"}}
    path.write_text(json.dumps(row) + "\n")
    with pytest.raises(ValueError, match=r"no playable tasks of the held-out families .*\(1 use tools the synthetic world does not have\)"):
        evaluate_passrate(path, System(scripted(lambda r, p: "")), progress=False)


def test_variants_of_one_instruction_are_one_task_and_a_limit_samples_every_family(tmp_path, scripted):
    result = ChunkResult()
    test_families = [f for f in families() if f.split == "test"]
    for i in range(12):
        play_instruction(0, i, test_families, result)
    rows = result.trajectories
    instructions = {r["meta"]["instruction_id"] for r in rows}
    family_of = {r["meta"]["instruction_id"]: r["meta"]["family"] for r in rows}
    assert len(rows) > len(instructions) > 3  # the engine writes several variants per instruction
    assert len(set(family_of.values())) >= 2
    path = tmp_path / "synth.jsonl"
    # file order puts one family first, so a plain head of the file would measure only it
    first = rows[0]["meta"]["family"]
    rows.sort(key=lambda r: (r["meta"]["family"] != first, r["id"]))
    # real-source tasks: their tools were simulated from the source's schemas; the world has no
    # `calculate_triangle_area`, and its `book_hotel` is not BFCL's `book_hotel`
    def real(i, tool):
        schema = {"name": tool, "description": "BFCL's.", "parameters": {"type": "object", "properties": {}}}
        return dict(rows[0], id=f"real-bfcl-{i}", tools=[schema], meta={"family": "real_bfcl", "split": "test"},
                    steps=[dict(rows[0]["steps"][0], action={"name": tool, "arguments": {}}), rows[0]["steps"][-1]])
    path.write_text("".join(json.dumps(r) + "\n" for r in rows + [real(1, "calculate_triangle_area"),
                                                                  real(2, "book_hotel")]))
    give_up = System(scripted(lambda r, p: "Rationale: no\nNext: Give up"))

    report, records = evaluate_passrate(path, give_up, progress=False)
    assert report["n"] == len(instructions) and report["unplayable"] == {"real_bfcl": 2}
    assert sorted(r["id"] for r in records) == sorted(
        next(x["id"] for x in rows if x["meta"]["instruction_id"] == i) for i in instructions)

    families_n = len(set(family_of.values()))
    report, records = evaluate_passrate(path, give_up, progress=False, limit=families_n, seed=0)
    assert sorted(r["group"] for r in records) == sorted(set(family_of.values()))
    again, same = evaluate_passrate(path, give_up, progress=False, limit=families_n, seed=0)
    assert [r["id"] for r in same] == [r["id"] for r in records] and again["seed"] == 0


def test_families_choose_held_out_or_seen_tasks(tmp_path, scripted):
    held_out, seen = synth_test_tasks(2), synth_test_tasks(3, held_out=False)
    assert all(t["meta"]["split"] == "test" for t in held_out) and not any("split" in t["meta"] for t in seen)
    path = tmp_path / "test.jsonl"  # a data build's test split holds both kinds
    path.write_text("".join(json.dumps(r) + "\n" for r in held_out + seen))
    give_up = System(scripted(lambda r, p: "Rationale: no\nNext: Give up"))
    ids = {}
    for families in ("held_out", "seen", "all"):
        report, records = evaluate_passrate(path, give_up, progress=False, families=families)
        ids[families] = {r["id"] for r in records}
        assert report["benchmark"] == ("passrate" if families == "held_out" else f"passrate_{families}")
    assert ids["held_out"] == {t["id"] for t in held_out} and ids["seen"] == {t["id"] for t in seen}
    assert ids["all"] == ids["held_out"] | ids["seen"]
    with pytest.raises(ValueError, match="families must be one of held_out, seen, all, got 'unseen'"):
        evaluate_passrate(path, give_up, progress=False, families="unseen")
    path.write_text("".join(json.dumps(r) + "\n" for r in held_out))
    with pytest.raises(ValueError, match="no playable tasks of the training families.*--families all"):
        evaluate_passrate(path, give_up, progress=False, families="seen")


def test_cli_names_the_valid_families(tmp_path):
    from typer.testing import CliRunner

    from multiagentllm.eval.cli import app

    result = CliRunner().invoke(app, ["passrate", "--data", str(tmp_path / "t.jsonl"), "--families", "unseen"],
                                env={"COLUMNS": "1000"})
    assert result.exit_code != 0 and "'unseen'; choose one of held_out, seen, all" in result.output
