"""Tool schemas are checked when a tool is registered: a malformed one names the tool and the path."""

from __future__ import annotations

import pytest

from multiagentllm.data.loaders.bfcl import convert_function
from multiagentllm.tools import ToolRegistry, default_registry, tool
from multiagentllm.tools.library import BUILTIN_TOOLS
from multiagentllm.tools.schema_check import MAX_REFS, ToolSchemaError, check_tool_schema
from multiagentllm.tools.simulated import SimulatedTool


def fn(parameters, name="lookup"):
    return {"name": name, "description": "Look something up.", "parameters": parameters}


def obj(**properties):
    return {"type": "object", "properties": properties}


DEFS = {"type": "object", "properties": {"where": {"$ref": "#/$defs/place"}}, "required": ["where"],
        "$defs": {"place": {"type": "object", "properties": {"city": {"$ref": "#/$defs/name"},
                                                             "zip": {"type": "string"}},
                            "required": ["city"]},
                  "name": {"type": "string", "minLength": 1}}}


@pytest.mark.parametrize("parameters, path, fragment", [
    ("x", "parameters", "must be a JSON Schema object, got str"),
    ({"type": "array", "items": {"type": "string"}}, "parameters.type", "root type must be 'object'"),
    (obj(city={"type": "str"}), "parameters.properties.city.type", "did you mean 'string'?"),
    (obj(n={"type": "int"}), "parameters.properties.n.type", "did you mean 'integer'?"),
    (obj(x={"type": "float"}), "parameters.properties.x.type", "did you mean 'number'?"),
    (obj(o={"type": "dict"}), "parameters.properties.o.type", "did you mean 'object'?"),
    (obj(xs={"type": "array", "items": {"type": "list"}}), "parameters.properties.xs.items.type",
     "did you mean 'array'?"),
    (obj(v={"type": "any"}), "parameters.properties.v.type", "leave 'type' out"),
    (obj(v={"type": ["string", "None"]}), "parameters.properties.v.type[1]", "did you mean 'null'?"),
    (obj(v={"anyOf": [{"type": "string"}, {"type": "tuple"}]}), "parameters.properties.v.anyOf[1].type",
     "did you mean 'array'?"),
    ({"type": "object", "properties": ["city"]}, "parameters.properties", "must be an object"),
    (obj(city="string"), "parameters.properties.city", "write {'type': 'string'}"),
    ({**obj(city={"type": "string"}), "required": ["city", "country"]}, "parameters.required",
     "names 'country', not among the properties (declared: 'city')"),
    ({"type": "object", "required": "city"}, "parameters.required", "must be a list"),
    (obj(a={"type": "object", "properties": {"b": {}}, "required": ["c"]}), "parameters.properties.a.required",
     "names 'c'"),
    ({"$ref": "#"}, "parameters.$ref", "'#' is recursive"),
    ({**obj(n={"$ref": "#/$defs/a"}), "$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}}},
     "parameters.$defs.a.$ref", "#/$defs/b -> #/$defs/a -> #/$defs/b"),
    ({**obj(tree={"$ref": "#/definitions/node"}),
      "definitions": {"node": obj(kids={"type": "array", "items": {"$ref": "#/definitions/node"}})}},
     "parameters.definitions.node.properties.kids.items.$ref", "recursive"),
    (obj(v={"anyOf": [{"type": "null"}, obj(w={"$ref": "#/properties/v/anyOf/1"})]}),
     "parameters.properties.v.anyOf[1].properties.w.$ref", "recursive"),
    (obj(n={"$ref": "#/$defs/missing"}), "parameters.properties.n.$ref", "does not resolve"),
    (obj(n={"$ref": "https://example.com/schema.json"}), "parameters.properties.n.$ref",
     "only references inside the schema"),
    ({**obj(n={"$ref": "#/$defs/a/description"}), "$defs": {"a": {"description": "x"}}},
     "parameters.properties.n.$ref", "not a schema"),
    (obj(**{"first name": {"type": "string", "enum": "ann"}}), 'parameters.properties["first name"].enum',
     "is not of type 'array'"),
    (obj(n={"type": "integer", "minimum": "0"}), "parameters.properties.n.minimum", "is not of type 'number'"),
    ({"type": "object", "properties": {"a": {"type": "object", "properties": {"b": {}}}}}
     | {"$defs": {f"d{i}": {"$ref": "#/properties/a"} for i in range(MAX_REFS + 1)}},
     "parameters", f"holds {MAX_REFS + 1} $refs"),
])
def test_malformed_schemas_name_the_tool_and_the_path(parameters, path, fragment):
    with pytest.raises(ToolSchemaError) as e:
        check_tool_schema(fn(parameters))
    assert e.value.tool == "lookup" and e.value.path == path
    assert str(e.value).startswith(f"tool 'lookup': {path}: ") and fragment in str(e.value)
    assert isinstance(e.value, ValueError)


def test_a_schema_without_a_name_is_an_error_that_says_where():
    with pytest.raises(ToolSchemaError, match=r"^tools\[3\]: name: must be a non-empty string"):
        check_tool_schema({"parameters": {}}, where="tools[3]")


@pytest.mark.parametrize("parameters", [
    None,
    {},
    {"properties": {"q": {"type": "string"}}},
    obj(q={"type": "string", "description": "query", "default": "x"}, n={"type": ["integer", "null"]},
        unit={"type": "string", "enum": ["c", "f"]}, anything={}, flag=True),
    obj(stops={"type": "array", "items": obj(name={"type": "string"}, at={"type": "object"})},
        pair={"type": "array", "items": [{"type": "number"}, {"type": "number"}]}),
    {**obj(a={"type": "object", "required": ["free_key"]}), "required": []},  # nested: undeclared keys allowed
    obj(filter={"type": "object", "properties": {"k": {}}, "required": ["other"],
                "additionalProperties": {"type": "string"}}),
    DEFS,
    {**obj(a={"$ref": "#/definitions/x"}, b={"$ref": "#/definitions/x"}), "definitions": {"x": {"type": "integer"}}},
    obj(**{"a/b": {"type": "string"}}, c={"$ref": "#/properties/a~1b"}),
    obj(v={"anyOf": [{"type": "string"}, {"$ref": "#/properties/v/anyOf/0"}]}),
])
def test_good_schemas_pass(parameters):
    check_tool_schema(fn(parameters))


@pytest.mark.parametrize("t", BUILTIN_TOOLS, ids=lambda t: t.name)
def test_every_builtin_tool_passes(t):
    check_tool_schema(t.schema)


def test_bfcl_dialect_is_translated_by_its_loader_before_any_tool_is_built():
    function = {"name": "spline", "description": "Fit.", "parameters": {
        "type": "dict", "required": ["points"], "properties": {
            "points": {"type": "array", "items": {"type": "tuple", "items": {"type": "float"}}},
            "options": {"type": "dict", "properties": {"k": {"type": "integer"}, "meta": {"type": "any"}}}}}}
    with pytest.raises(ToolSchemaError, match="did you mean 'object'"):
        check_tool_schema(function)
    check_tool_schema(convert_function(function))


def test_register_rejects_a_bad_tool_and_leaves_the_registry_unchanged():
    reg = default_registry()
    before = reg.names
    with pytest.raises(ToolSchemaError, match=r"^tool 'lookup': parameters\.properties\.q\.type: 'str'"):
        reg.register(SimulatedTool(fn(obj(q={"type": "str"}))))
    with pytest.raises(ToolSchemaError, match="'#' is recursive"):
        reg.extend([SimulatedTool(fn({"$ref": "#"}, name="loop"))])
    assert reg.names == before and "lookup" not in reg and "loop" not in reg
    reg.register(SimulatedTool(fn(obj(q={"type": "string"}))))  # the fixed tool registers
    assert reg.names == [*before, "lookup"]


def test_register_checks_plain_functions_too():
    @tool
    def ok(x: int) -> int:
        """Identity.

        Args:
            x: A number.
        """
        return x

    reg = ToolRegistry()
    reg.register(ok)
    assert reg.names == ["ok"]


def test_arguments_are_validated_through_refs_into_defs():
    reg = ToolRegistry()
    reg.register(SimulatedTool(fn(DEFS)))
    assert reg.call("lookup", {"where": {"city": "Oslo"}}).ok
    bad = reg.call("lookup", {"where": {"city": ""}})
    assert not bad.ok and "argument 'where' of 'lookup'" in bad.error
    assert not reg.call("lookup", {"where": {"zip": "0150"}}).ok
