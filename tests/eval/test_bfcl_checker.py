"""BFCL AST checker: hand-made cases for each rule, and the shipped reference answers."""

import copy

import pytest
from eval_helpers import BFCL, needs_data

from multiagentllm.data.loaders.bfcl import load_bfcl
from multiagentllm.eval.bfcl_checker import check, check_call, standardize

FUNC = {"name": "trip.plan", "parameters": {"type": "dict", "properties": {
    "city": {"type": "string"}, "days": {"type": "integer"}, "budget": {"type": "float"},
    "stops": {"type": "array", "items": {"type": "string"}},
    "prefs": {"type": "dict", "properties": {"hotel": {"type": "string"}}},
    "flag": {"type": "boolean"}}, "required": ["city", "days"]}}
ANSWER = {"trip.plan": {"city": ["New York City", "NYC"], "days": [3], "budget": [1000.0, ""],
                        "stops": [["Central Park", "MoMA"], ""], "prefs": [{"hotel": ["Plaza", ""]}, ""],
                        "flag": [True, ""]}}


def _ok(args):
    return check_call(FUNC, {"trip.plan": args}, ANSWER)


def test_a_right_call_passes_with_lenient_strings_and_int_for_float():
    assert _ok({"city": "new-york city", "days": 3}).valid
    assert _ok({"days": 3, "city": "NYC", "budget": 1000}).valid  # int accepted for float, any order
    assert _ok({"city": "NYC", "days": 3, "stops": ["central park", "MoMA"], "prefs": {"hotel": "plaza"}}).valid
    assert _ok({"city": "NYC", "days": 3, "prefs": {}}).valid  # dict keys with "" may be left out


@pytest.mark.parametrize("args, kind", [
    ({"city": "NYC"}, "missing_required"),
    ({"city": "NYC", "days": 3, "nights": 2}, "unexpected_param"),
    ({"city": "NYC", "days": "3"}, "type_error:simple"),
    ({"city": "NYC", "days": 3.0}, "type_error:simple"),  # float for integer is not accepted
    ({"city": "NYC", "days": 4}, "value_error:others"),
    ({"city": "Boston", "days": 3}, "value_error:string"),
    ({"city": "NYC", "days": 3, "stops": ["MoMA", "Central Park"]}, "value_error:list"),  # order matters
    ({"city": "NYC", "days": 3, "prefs": {"hotel": "Hilton"}}, "value_error:dict"),
    ({"city": "NYC", "days": 3, "flag": 1}, "type_error:simple"),
])
def test_each_rule_rejects(args, kind):
    result = _ok(args)
    assert not result.valid and result.kind == kind, result


def test_wrong_function_name_and_missing_optional_without_default():
    assert check_call(FUNC, {"trip.plans": {"city": "NYC", "days": 3}}, ANSWER).kind == "wrong_func_name"
    strict = copy.deepcopy(ANSWER)
    strict["trip.plan"]["budget"] = [1000.0]
    assert check_call(FUNC, {"trip.plan": {"city": "NYC", "days": 3}}, strict).kind == "missing_optional"


def test_categories():
    one = [{"trip.plan": {"city": "NYC", "days": 3}}]
    assert check("simple_python", [FUNC], one, [ANSWER]).valid
    assert check("simple_python", [FUNC], one * 2, [ANSWER]).kind == "wrong_count"
    assert check("simple_python", [FUNC], [], [ANSWER]).kind == "wrong_count"  # no answer
    two = [ANSWER, {"trip.plan": {**ANSWER["trip.plan"], "city": ["Boston"], "days": [2]}}]
    calls = [{"trip.plan": {"city": "Boston", "days": 2}}, {"trip.plan": {"city": "NYC", "days": 3}}]
    assert check("parallel", [FUNC], calls, two).valid  # any order
    assert not check("parallel", [FUNC], [calls[0], calls[0]], two).valid  # each output used once
    assert check("irrelevance", [FUNC], [], None).valid
    assert check("irrelevance", [FUNC], one, None).kind == "irrelevance"
    with pytest.raises(ValueError, match="possible answer"):
        check("simple_python", [FUNC], one, None)


def test_standardize():
    assert standardize("April 1, 2024") == standardize("april 1 2024") == "april12024"
    assert standardize("it's") == 'it"s'


CATEGORIES = ["simple_python", "multiple", "parallel", "parallel_multiple", "irrelevance"]


def _perturb(call: dict) -> dict:
    """Change one value so that no acceptable answer allows it."""
    ((name, args),) = call.items()
    args = dict(args)
    for key, value in args.items():
        if isinstance(value, bool):
            args[key] = "not a bool"
        elif isinstance(value, (int, float)):
            args[key] = value + 7919
        elif isinstance(value, str):
            args[key] = value + " zzqx"
        else:
            args[key] = "zzqx"
        return {name: args}
    return {name + "_zzqx": args}


@needs_data
@pytest.mark.parametrize("category", CATEGORIES)
def test_shipped_reference_answers_all_pass_and_perturbed_ones_fail(category):
    items = list(load_bfcl(BFCL / f"BFCL_v4_{category}.json"))
    assert items
    for item in items:
        gold = [{c.name: c.arguments} for c in item.calls]
        result = check(item.meta["category"], item.meta["bfcl_functions"], gold, item.meta.get("possible_answer"))
        assert result.valid, (item.id, result)
        if category == "irrelevance":
            any_call = [{item.tools[0]["name"]: {}}]
            assert not check("irrelevance", item.meta["bfcl_functions"], any_call, None).valid
        else:
            bad = [_perturb(gold[0])] + gold[1:]
            assert not check(item.meta["category"], item.meta["bfcl_functions"], bad,
                             item.meta["possible_answer"]).valid, item.id
            assert not check(item.meta["category"], item.meta["bfcl_functions"], gold[:-1],
                             item.meta["possible_answer"]).valid
