"""tau-bench retail tasks -> executed trajectories verified by the database state; bad tasks named."""

import shutil
from pathlib import Path

import pytest

from multiagentllm.data.loaders import SOURCES
from multiagentllm.data.loaders.taubench import load_taubench, parse_tasks
from multiagentllm.data.loaders.taubench_text import scenario_request
from multiagentllm.io import DataError, SkipReport
from multiagentllm.tools.library import retail

RETAIL = retail.data_dir().parent
TRAIN = RETAIL / "tasks_train.py"
needs_data = pytest.mark.skipif(not (retail.available() and TRAIN.exists()), reason="tau-bench retail data not found")

TASK = '''    Task(
        annotator="synthetic",
        user_id="{user}",
        instruction="Your name is Omar Anderson and your zip code is 19031. You are logical, polite. Return #W6067464 via credit_card_4190576: Electric Kettle; Wall Clock; ",
        actions=[
            Action(
                name="return_delivered_order_items",
                kwargs={{"order_id": "#W6067464", "item_ids": ["9624127908", "8917609800"], "payment_method_id": "{pm}"}},
            )
        ],
        outputs=[],
    ),
'''


def task_file(tmp_path: Path, *tasks: str, name: str = "tasks_train.py") -> Path:
    """A task file beside a link to the real database (as the loader finds it)."""
    (tmp_path / "data").symlink_to(retail.data_dir(), target_is_directory=True)
    path = tmp_path / name
    path.write_text("from tau_bench.types import Task, Action\n\nTASKS_TRAIN = [\n" + "".join(tasks) + "]\n")
    return path


@needs_data
def test_first_train_tasks_all_verify():
    report = SkipReport()
    trajs = []
    for traj in load_taubench(TRAIN, skip_bad=True, report=report):
        trajs.append(traj)
        if traj.meta["task_index"] >= 19:
            break
    assert [t.meta["task_index"] for t in trajs] == list(range(20)) and report.skipped == 0
    first = trajs[0]
    assert first.instruction == ("My name is Omar Anderson and my zip code is 19031. Please return the Electric Kettle "
                                 "and the Wall Clock from order #W6067464, with the refund to credit_card_4190576.")
    assert [s.action.name for s in first.steps if s.action] == [
        "find_user_id_by_name_zip", "get_user_details", "get_order_details", "return_delivered_order_items"]
    assert first.steps[0].observation == "omar_anderson_3203" and first.steps[-1].next == "summarizer"
    assert "credit_card_4190576" in first.answer and first.source == "taubench_retail"
    assert first.tool_names == ["find_user_id_by_name_zip", "get_user_details", "get_order_details",
                                "return_delivered_order_items"]
    # an exchange reads the product before writing
    exchange = trajs[3]
    names = [s.action.name for s in exchange.steps if s.action]
    assert names.index("get_product_details") < names.index("exchange_delivered_order_items")


@needs_data
def test_gold_action_that_fails_is_reported(tmp_path):
    path = task_file(tmp_path, TASK.format(user="omar_anderson_3203", pm="credit_card_4190576"),
                     TASK.format(user="omar_anderson_3203", pm="paypal_0000000"))
    with pytest.raises(DataError, match=r"tasks_train.py:16: task 1: gold action 0 return_delivered_order_items "
                                        r"fails: payment method not found"):
        list(load_taubench(path))
    report = SkipReport()
    assert len(list(load_taubench(path, skip_bad=True, report=report))) == 1
    assert report.skipped == 1 and "task 1" in report.examples[0]


@needs_data
def test_wrong_user_is_reported(tmp_path):
    path = task_file(tmp_path, TASK.format(user="james_li_5688", pm="credit_card_4190576"))
    with pytest.raises(DataError, match="the look-up finds user 'omar_anderson_3203'"):
        list(load_taubench(path))


def test_malformed_task_names_file_and_line(tmp_path):
    path = tmp_path / "tasks_train.py"
    path.write_text('TASKS = [\n    Task(user_id="a", instruction="x", actions=[]),\n'
                    '    Task(user_id="b", actions=[]),\n    Task(user_id=f(), instruction="y", actions=[]),\n]\n')
    report = SkipReport()
    assert [t.user_id for t in parse_tasks(path, skip_bad=True, report=report)] == ["a"]
    assert report.skipped == 2
    assert report.examples[0].endswith("tasks_train.py:3: task 1: missing instruction=")
    assert "tasks_train.py:4: task 2" in report.examples[1]
    with pytest.raises(DataError, match=r"tasks_train.py:3: task 1"):
        list(parse_tasks(path))
    path.write_text("TASKS = [\n    Task(\n")
    with pytest.raises(DataError, match=r"tasks_train.py:2: not valid Python"):
        list(parse_tasks(path))


def test_dev_tasks_are_not_training_data(tmp_path):
    dev = tmp_path / "tasks_dev.py"
    dev.write_text("TASKS_DEV = []\n")
    with pytest.raises(DataError, match="benchmark"):
        list(load_taubench(dev))
    assert SOURCES["taubench_retail"].patterns == ("tau-bench/tau_bench/envs/retail/tasks_train.py",)


def test_scenarios_become_first_person_requests():
    assert scenario_request("Your name is Ann Lee and your email is ann.lee1@example.com. You are shy. "
                            "Cancel order #W1 because no longer needed. For #W2, change payment to gift_card_3. ") == (
        "My name is Ann Lee and my email is ann.lee1@example.com. Please cancel order #W1 because it is no longer "
        "needed. Please pay order #W2 with gift_card_3 instead.", "structured")
    request, how = scenario_request("Your name is Ann Lee and your zip code is 12345. You are shy. For #W9, modify "
                                    "Lamp {'color': 'red', 'size': 'S'} to {'size': 'L'}; Mat {'color': 'blue'} to {}; "
                                    "via paypal_1. ")
    assert how == "structured" and request.endswith(
        "please change the Lamp (color: red, size: S) for the one with size: L; and the Mat (color: blue) for a new "
        "one with exactly the same options; use paypal_1 for the price difference.")
    assert scenario_request("Your name is Ann Lee and your zip code is 12345. You are shy. You've received your "
                            "order and you'd like to return it. Ask them to help you.") == (
        "My name is Ann Lee and my zip code is 12345. I've received my order and I'd like to return it. "
        "Ask them to help me.", "pronouns")
