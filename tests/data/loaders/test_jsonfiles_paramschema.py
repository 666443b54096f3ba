import pytest

from multiagentllm.data.loaders.jsonfiles import convert_each, iter_json_records
from multiagentllm.data.loaders.paramschema import json_type, object_schema
from multiagentllm.io import DataError, SkipReport


def test_array_records_carry_their_start_lines(tmp_path):
    path = tmp_path / "a.json"
    path.write_text('\n[\n  {"a": 1},\n\n  {"b":\n     2}, 3\n]\n')
    assert list(iter_json_records(path)) == [(3, 0, {"a": 1}), (5, 1, {"b": 2}), (6, 2, 3)]
    (tmp_path / "e.json").write_text("[ ]")
    assert list(iter_json_records(tmp_path / "e.json")) == []


@pytest.mark.parametrize("text, line, reason", [
    ('[\n{"a": 1}\n{"b": 2}]', 3, "expected ',' or ']'"),
    ('[\n{"a": 1}]\nmore', 3, "extra data"),
    ('[\n{"a": 1},\n{"b": }]', 3, "record 1"),
])
def test_array_errors(tmp_path, text, line, reason):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(DataError, match=reason) as e:
        list(iter_json_records(path))
    assert e.value.line == line


def test_convert_each_skips_bad_jsonl_lines_and_bad_parts(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text('{"v": 1}\n{oops\n\n{"v": -2}\n{"w": 3}\n')

    def convert(rec, index):
        if rec["v"] < 0:
            return [ValueError("negative"), rec["v"]]
        return [rec["v"]]

    report = SkipReport()
    assert list(convert_each(path, convert, skip_bad=True, report=report)) == [1, -2]
    assert report.examples == [f"{path}:2: invalid JSON: Expecting property name enclosed in double quotes (column 2)",
                               f"{path}:4: record 2: negative", f"{path}:5: record 3: missing field 'v'"]
    with pytest.raises(DataError, match="invalid JSON"):
        list(convert_each(path, convert))
    with pytest.raises(DataError, match="file not found"):
        list(convert_each(tmp_path / "none.json", convert, skip_bad=True))


def test_type_names_to_json_schema():
    assert json_type("str") == {"type": "string"}
    assert json_type("List[str]") == {"type": "array", "items": {"type": "string"}}
    assert json_type("Optional[int]") == {"type": "integer"}
    assert json_type("Date (yyyy-mm-dd)") == {"type": "string"}
    assert json_type(["integer", "number"]) == {"type": "number"}
    assert json_type("Union[List[dict], dict]") is None


def test_object_schema_from_loose_and_json_schema_params():
    loose = object_schema({"a": {"type": "Number", "required": True, "description": "A"},
                           "b": {"type": "Union[int, str]", "description": "B", "default_value": "1",
                                 "allowed_values": []}})
    assert loose == {"type": "object", "required": ["a"], "properties": {
        "a": {"type": "number", "description": "A"},
        "b": {"description": "B (type: Union[int, str])", "default": "1"}}}
    assert object_schema({"a": {"type": "int"}}, required=[])["required"] == []
    schema = {"type": "object", "properties": {"s": {"type": "string"}}, "required": ["s"]}
    assert object_schema(schema) == schema
    with pytest.raises(ValueError, match="must be an object"):
        object_schema(["a"])
