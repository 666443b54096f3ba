import re

import pytest

from multiagentllm.data.loaders.apibank_syntax import (
    ApiRequestError,
    parse_api_request,
    python_literal,
    split_request_line,
)
from multiagentllm.types import ToolCall


def one(text):
    calls = parse_api_request(text)
    assert len(calls) == 1
    return calls[0]


def test_plain_request_with_prefix_and_brackets():
    call = one("API-Request: [ModifyRegistration(appointment_id='34567890', new_appointment_date='2023-03-26')]")
    assert call == ToolCall("ModifyRegistration", {"appointment_id": "34567890",
                                                   "new_appointment_date": "2023-03-26"})


def test_quoted_values_hold_commas_parentheses_and_equals():
    call = one("[Search(query='a, b (c) = d', other=\"x), y='z'\")]")
    assert call.arguments == {"query": "a, b (c) = d", "other": "x), y='z'"}


def test_numbers_booleans_none_and_containers():
    call = one("[F(n=3, price=2000.0, neg=-1, ok=True, nothing=None, ids=[1, 2], d={'a': (1, 2)})]")
    assert call.arguments == {"n": 3, "price": 2000.0, "neg": -1, "ok": True, "nothing": None,
                              "ids": [1, 2], "d": {"a": (1, 2)}}
    assert isinstance(call.arguments["n"], int)


def test_empty_arguments_and_missing_brackets():
    assert one("GetToday()") == ToolCall("GetToday", {})
    assert one("API-Request: [ GetToday( ) ]") == ToolCall("GetToday", {})
    assert one("API-Request: OperatingHoursTool(pharmacy_name='PharmaHealth')").arguments == {
        "pharmacy_name": "PharmaHealth"}


def test_escaped_quotes_inside_a_quoted_value():
    assert one(r"[Say(text='it\'s fine', t2=" + '"say \\"hi\\""' + ")]").arguments == {
        "text": "it's fine", "t2": 'say "hi"'}


def test_unescaped_inner_quotes_keep_the_text_between_the_outer_quotes():
    # seen in API-Bank: a list written inside quotes without escaping
    call = one("[AddMeeting(token='a9s8', attendees='['John', 'Jane']', location='Room A')]")
    assert call.arguments == {"token": "a9s8", "attendees": "['John', 'Jane']", "location": "Room A"}


def test_unquoted_text_values_are_strings():
    call = one("API-Request: [Compare(medication1=diabetes, location=New York, NY, when=2033-12-31)]")
    assert call.arguments == {"medication1": "diabetes", "location": "New York, NY", "when": "2033-12-31"}


def test_unquoted_expression_with_parentheses():
    assert one("[Calculator(formula=(5+3)*6)]").arguments == {"formula": "(5+3)*6"}


def test_several_calls_in_one_request():
    calls = parse_api_request("API-Request: [R(value1=80, value2=600), R(value1=90, value2='a, b')]")
    assert calls == [ToolCall("R", {"value1": 80, "value2": 600}), ToolCall("R", {"value1": 90, "value2": "a, b"})]


@pytest.mark.parametrize("text, message", [
    ("API-Request: []", "no call"),
    ("API-Request: [Hello]", "expected Name(...)"),
    ("[F('positional')]", "expected key=value"),
    ("[F(a=1, a=2)]", "given twice"),
    ("[F(a='open)]", "unterminated"),
    ("[F(a=1) trailing]", "unexpected text after F(...)"),
    ("[F(a=x]", "not closed with ')'"),
    ("[F(a=1)] junk", "does not end with ']'"),
    ("F(a=1) G(b=2)", "unexpected text after F(...)"),
    ("F(a=1), junk", "expected Name(...)"),
])
def test_malformed_requests_raise_with_a_reason(text, message):
    with pytest.raises(ApiRequestError, match=re.escape(message)):
        parse_api_request(text)


def test_split_request_line_separates_the_result():
    calls, result = split_request_line(
        "API-Request: [QueryHealthData(user_id='J46801')]->[{'time': '2023-03-11 14:20:00'}]")
    assert calls == [ToolCall("QueryHealthData", {"user_id": "J46801"})]
    assert result == "[{'time': '2023-03-11 14:20:00'}]"
    assert split_request_line("API-Request: Ping()->success") == ([ToolCall("Ping", {})], "success")
    with pytest.raises(ApiRequestError, match="no '->'"):
        split_request_line("API-Request: [Ping()]")


def test_python_literal_is_lenient_about_bare_names_and_apostrophes():
    assert python_literal("{'type': str, 'n': -2}") == {"type": "str", "n": -2}
    assert python_literal("{'description': 'the user's id', 'x': ['a', 'b']}") == {
        "description": "the user's id", "x": ["a", "b"]}
    with pytest.raises(ValueError, match="not a Python literal"):
        python_literal("{'name': 'Truncated', 'input': {'type...")
    with pytest.raises(ValueError):
        python_literal("__import__('os')")
