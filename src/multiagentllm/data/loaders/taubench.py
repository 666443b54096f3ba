"""tau-bench retail tasks (`tau_bench/envs/retail/tasks_train.py`) -> executed, verified trajectories.

A task is a user-simulator scenario ("Your name is ... You are patient. Return #W6067464 via
credit_card_4190576: Electric Kettle; Wall Clock; ") and the gold write actions. The task files
are Python (`Task(...)`/`Action(...)` calls); they are parsed with `ast` and never executed, and
a malformed task is a `DataError` naming the file and the task's line.

Each training task becomes one trajectory, played against a fresh copy of the retail database
(beside the task file, `data/`) through the project's retail tools (`tools.library.retail`):

1. the look-ups a careful agent makes: find the user id (by email, else by name and zip, as the
   scenario gives them), read the user's profile (orders, payment methods), read every order the
   gold actions touch or the scenario names, and read the product of every item an exchange or
   modification swaps (to find the new variant);
2. the gold write actions, in order;
3. a summarizer answer stating what was done, written from the write observations.

Rationales are short and derived from the call and what the earlier observations showed. The
trajectory is kept only if every call succeeds and the database it leaves has the same state hash
as the gold actions alone leave (tau-bench's reward check); otherwise the task is a `DataError`
(file, line, task index, the failed action or the differing state), raised or, with `skip_bad`,
counted -- never dropped silently.

The instruction is the scenario rewritten as a first-person request (`scenario_request`): the
identity sentence and the structured clauses of the synthetic tasks become requests by template
("Return #W1 via PM: A; B;" -> "Please return the A and the B from order #W1, refunding
PM."); the personality sentence ("You are patient, polite.") is dropped; a scenario with any
other text (most dev tasks are free narratives) is kept whole with its pronouns turned to the
first person. `meta["rewrite"]` says which. The user simulator's behaviour notes ("Be initially
indecisive ...") stay in such a narrative: there is no user to play them in a one-turn request.

`meta["taubench_split"]` names tau-bench's split; it is not `meta["split"]`, so the data build
splits these trajectories by instruction like any other source. Only `tasks_train.py` is a training source: the dev tasks are the benchmark
(`eval/benchmarks/taubench.py`), and this loader refuses `tasks_dev.py` and `tasks_test.py`.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from multiagentllm.data.loaders.taubench_text import identity, scenario_request, split_name
from multiagentllm.io import DataError, SkipReport, read_text, skip_or_raise
from multiagentllm.tools.library.retail import RetailDB, retail_registry
from multiagentllm.types import SchemaError, Step, ToolCall, Trajectory

SOURCE = "taubench_retail"
HELD_OUT = ("tasks_dev.py", "tasks_test.py")
ANSWER_RATIONALE = "Every requested change is done; tell the customer what was done."


@dataclass
class TauTask:
    index: int
    line: int
    user_id: str
    scenario: str
    actions: list[ToolCall]
    outputs: list[str] = field(default_factory=list)


def _kwargs(call: ast.Call, what: str) -> dict[str, Any]:
    if call.args:
        raise ValueError(f"{what} takes keyword arguments only")
    return {kw.arg: kw.value for kw in call.keywords if kw.arg}


def _task(node: ast.expr, index: int) -> TauTask:
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Task"):
        raise ValueError("not a Task(...) call")
    kw = _kwargs(node, "Task")
    for key in ("user_id", "instruction", "actions"):
        if key not in kw:
            raise ValueError(f"missing {key}=")
    user_id, scenario = ast.literal_eval(kw["user_id"]), ast.literal_eval(kw["instruction"])
    if not isinstance(user_id, str) or not isinstance(scenario, str) or not scenario.strip():
        raise ValueError("user_id and instruction must be non-empty strings")
    if not isinstance(kw["actions"], ast.List):
        raise ValueError("actions= must be a list of Action(...)")
    actions = []
    for k, a in enumerate(kw["actions"].elts):
        if not (isinstance(a, ast.Call) and isinstance(a.func, ast.Name) and a.func.id == "Action"):
            raise ValueError(f"actions[{k}] is not an Action(...) call")
        akw = _kwargs(a, "Action")
        name = ast.literal_eval(akw["name"]) if "name" in akw else None
        args = ast.literal_eval(akw["kwargs"]) if "kwargs" in akw else None
        if not isinstance(name, str) or not isinstance(args, dict):
            raise ValueError(f"actions[{k}] needs name= (a string) and kwargs= (a dict)")
        actions.append(ToolCall(name, args))
    outputs = ast.literal_eval(kw["outputs"]) if "outputs" in kw else []
    if not isinstance(outputs, list) or not all(isinstance(o, str) for o in outputs):
        raise ValueError("outputs= must be a list of strings")
    return TauTask(index, node.lineno, user_id, scenario.strip(), actions, outputs)


def parse_tasks(path: str | os.PathLike, *, skip_bad: bool = False,
                report: SkipReport | None = None) -> Iterator[TauTask]:
    """The tasks of a tau-bench task file (the first top-level `NAME = [Task(...), ...]`), read
    with `ast`: nothing in the file runs. A bad task names the file and its line."""
    path = Path(path)
    try:
        text = read_text(path)
        try:
            tree = ast.parse(text, filename=str(path))
        except SyntaxError as e:
            raise DataError(path, e.lineno, f"not valid Python: {e.msg}") from None
        lists = [n.value for n in tree.body if isinstance(n, ast.Assign) and isinstance(n.value, ast.List)]
        if not lists:
            raise DataError(path, None, "no task list (NAME = [Task(...), ...]) in the file")
    except DataError as err:
        skip_or_raise(err, skip_bad, report)
        return
    for index, node in enumerate(lists[0].elts):
        try:
            yield _task(node, index)
        except (ValueError, SyntaxError, TypeError) as e:  # literal_eval: ValueError for a non-literal
            skip_or_raise(DataError(path, node.lineno, f"task {index}: {e}"), skip_bad, report)


class PlayError(ValueError):
    """A call of a task's trajectory failed, or its final state is not the gold actions' state."""


def gold_run(task: TauTask, data: Path) -> tuple[str, list[tuple[int, str, str]]]:
    """The state hash the gold actions alone leave in a fresh database (tau-bench's reward), and
    the (index, name, error) of each gold action that failed (a failing action changes nothing)."""
    registry = retail_registry(RetailDB.load(data), timeout=None)
    errors = []
    for k, call in enumerate(task.actions):
        obs = registry.call(call.name, call.arguments)
        if not obs.ok:
            errors.append((k, call.name, obs.error))
    return registry.world.retail_db.state_hash(), errors


def gold_state(task: TauTask, data: Path) -> str:
    """`gold_run`'s state hash; a failing gold action raises `PlayError` naming the first."""
    state, errors = gold_run(task, data)
    if errors:
        k, name, error = errors[0]
        raise PlayError(f"gold action {k} {name} fails: {error}")
    return state


class _Episode:
    """The calls of one trajectory, each run as it is added."""

    def __init__(self, data: Path):

        self.registry = retail_registry(RetailDB.load(data), timeout=None)
        self.steps: list[Step] = []
        self.seen: dict[str, Any] = {}  # order / product id -> its observed record

    def call(self, rationale: str, name: str, **arguments: Any) -> Any:
        call = ToolCall(name, arguments)
        obs = self.registry.call(name, arguments)
        if not obs.ok:
            raise PlayError(f"{name} {arguments} fails: {obs.error}")
        self.steps.append(Step(rationale, "caller", call, obs.content))
        return obs.data


def _find_user(ep: _Episode, task: TauTask) -> str:

    who = identity(task.scenario)
    if who is None:
        raise PlayError("the scenario gives neither an email nor a name and zip code")
    name, email, zip_code = who
    if email:
        user_id = ep.call(f"Identify the customer by the email {email}.", "find_user_id_by_email", email=email)
    else:
        first, last = split_name(name)
        user_id = ep.call(f"Identify the customer: {name}, zip code {zip_code}.", "find_user_id_by_name_zip",
                          first_name=first, last_name=last, zip=zip_code)
    if user_id != task.user_id:
        raise PlayError(f"the look-up finds user {user_id!r}, the task's user is {task.user_id!r}")
    return user_id


def _orders_of(task: TauTask) -> list[str]:
    """Order ids the gold actions touch, then those the scenario names (an address "same as #W..")."""
    import re

    ids = [c.arguments["order_id"] for c in task.actions if "order_id" in c.arguments]
    ids += re.findall(r"#W\d+", task.scenario)
    return list(dict.fromkeys(ids))


def _item_names(order: dict[str, Any], item_ids: list[str]) -> list[str]:
    names = {i["item_id"]: i["name"] for i in order.get("items", [])}
    return [names.get(i, i) for i in item_ids]


def _write_rationale(call: ToolCall, orders: dict[str, Any]) -> str:
    a = call.arguments
    order = orders.get(a.get("order_id"), {})
    status = f"Order {a.get('order_id')} is {order.get('status')}" if order else ""
    old = a.get("item_ids", [])
    items = ", ".join(f"{n} ({i})" for n, i in zip(_item_names(order, old), old))
    swaps = ", ".join(f"{n} {i} for variant {j}" for n, i, j in zip(_item_names(order, old), old, a.get("new_item_ids", [])))
    text = {
        "cancel_pending_order": f"{status}; cancel it ({a.get('reason')}).",
        "return_delivered_order_items": f"{status}; return {items}, refunding {a.get('payment_method_id')}.",
        "exchange_delivered_order_items": f"{status}; exchange {swaps}, settling the difference with "
                                          f"{a.get('payment_method_id')}.",
        "modify_pending_order_items": f"{status}; change {swaps}, settling the difference with "
                                      f"{a.get('payment_method_id')}.",
        "modify_pending_order_payment": f"{status}; pay it with {a.get('payment_method_id')} instead.",
        "modify_pending_order_address": f"{status}; change its shipping address as asked.",
        "modify_user_address": f"Change the default address of {a.get('user_id')} as asked.",
    }.get(call.name)
    return text or f"Call {call.name} as the customer asked."


def _answer(done: list[tuple[ToolCall, dict[str, Any]]], before: dict[str, Any]) -> str:
    """What was done, from the write observations (every value stated is in an observation)."""
    lines = []
    for call, result in done:
        a, oid = call.arguments, call.arguments.get("order_id")
        items = " and ".join(_item_names(before.get(oid, {}), a.get("item_ids", [])))
        if call.name == "cancel_pending_order":
            refunds = [p for p in result["payment_history"] if p["transaction_type"] == "refund"]
            paid = "; ".join(f"{p['amount']} to {p['payment_method_id']}" for p in refunds)
            lines.append(f"Order {oid} is cancelled ({a['reason']}); refund: {paid} (a gift card is credited at "
                         "once, other methods in 5-7 business days).")
        elif call.name == "return_delivered_order_items":
            lines.append(f"The return of {items} from order {oid} is requested; the refund goes to "
                         f"{a['payment_method_id']}, and an email will explain how to send the items back.")
        elif call.name == "exchange_delivered_order_items":
            diff = result["exchange_price_difference"]
            how = "refunded to" if diff < 0 else "charged to"
            lines.append(f"The exchange of {items} from order {oid} is requested; the price difference, "
                         f"{diff}, is {how} {a['payment_method_id']}.")
        elif call.name == "modify_pending_order_items":
            now = ", ".join(f"{i['name']} ({i['item_id']}, {i['price']})" for i in result["items"]
                            if i["item_id"] in a["new_item_ids"])
            lines.append(f"Order {oid} now holds {now}; the difference is settled with {a['payment_method_id']}.")
        elif call.name == "modify_pending_order_payment":
            lines.append(f"Order {oid} is now paid with {a['payment_method_id']}; the earlier payment is refunded.")
        elif call.name in ("modify_pending_order_address", "modify_user_address"):
            ad = result["address"]
            where = ", ".join(x for x in (ad["address1"], ad["address2"], ad["city"], ad["state"], ad["zip"],
                                          ad["country"]) if x)
            whose = f"Order {oid} will ship to" if oid else "Your default address is now"
            lines.append(f"{whose} {where}.")
    return " ".join(lines)


def play_task(task: TauTask, data: Path, *, split: str = "train") -> Trajectory:
    """The executed trajectory of one task (see the module docstring); raises `PlayError`."""
    expected = gold_state(task, data)
    ep = _Episode(data)
    user_id = _find_user(ep, task)
    ep.call(f"Read {user_id}'s profile: their orders and payment methods.", "get_user_details", user_id=user_id)
    orders: dict[str, Any] = {}
    for oid in _orders_of(task):
        orders[oid] = ep.call(f"Check order {oid}: its status, items and payments.", "get_order_details", order_id=oid)
    products: list[str] = []
    for call in task.actions:
        if call.name in ("exchange_delivered_order_items", "modify_pending_order_items"):
            order = orders[call.arguments["order_id"]]
            for item_id in call.arguments["item_ids"]:
                item = next((i for i in order["items"] if i["item_id"] == item_id), None)
                if item and item["product_id"] not in products:
                    products.append(item["product_id"])
                    ep.call(f"Read the {item['name']} product ({item['product_id']}) for its variants and prices.",
                            "get_product_details", product_id=item["product_id"])
    done = [(call, ep.call(_write_rationale(call, orders), call.name, **call.arguments)) for call in task.actions]
    state = ep.registry.world.retail_db.state_hash()
    if state != expected:
        raise PlayError(f"the trajectory leaves state {state[:12]}, the gold actions {expected[:12]}")
    ep.steps.append(Step(ANSWER_RATIONALE, "summarizer"))
    answer = _answer(done, orders) if done else "No change was needed; nothing was done."
    request, rewrite = scenario_request(task.scenario)
    used = list(dict.fromkeys(s.action.name for s in ep.steps if s.action))
    tools = ep.registry.schemas([n for n in ep.registry.names if n in used])
    return Trajectory(id=f"{SOURCE}-{split}-{task.index}", instruction=request, tools=tools, steps=ep.steps,
                      answer=answer, outcome="solved", source=SOURCE,
                      meta={"taubench_split": split, "task_index": task.index, "user_id": task.user_id, "rewrite": rewrite,
                            "scenario": task.scenario, "gold_actions": [c.to_dict() for c in task.actions],
                            "state_hash": expected, "derived_rationales": len(ep.steps)})


def load_taubench(path: str | os.PathLike, *, skip_bad: bool = False,
                  report: SkipReport | None = None) -> Iterator[Trajectory]:
    """One verified trajectory per training task of `path` (the database is `data/` beside it)."""
    path = Path(path)
    if path.name in HELD_OUT:
        skip_or_raise(DataError(path, None, "the dev and test tasks are the benchmark (umi eval taubench), "
                                            "not training data"), skip_bad, report)
        return
    data = path.parent / "data"
    missing = [t for t in ("users", "orders", "products") if not (data / f"{t}.json").is_file()]
    if missing:
        skip_or_raise(DataError(path, None, f"the retail database is not beside it: {data} lacks "
                                            f"{', '.join(m + '.json' for m in missing)}"), skip_bad, report)
        return
    for task in parse_tasks(path, skip_bad=skip_bad, report=report):
        try:
            traj = play_task(task, data)
            traj.validate()
        except (PlayError, SchemaError, KeyError) as e:
            skip_or_raise(DataError(path, task.line, f"task {task.index}: {e}"), skip_bad, report)
            continue
        yield traj
