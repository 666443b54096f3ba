"""Client tools in a chat request get the registry's schema check: a malformed one is refused
before any model runs, with an error naming the tool and the path; a good one (with `$defs`)
is served."""

import pytest
from serve_helpers import WEATHER_TOOL, ask

CHAT = "/v1/chat/completions"


def weather_tool(parameters):
    return {"type": "function", "function": {"name": "get_weather", "description": "Weather.",
                                             "parameters": parameters}}


@pytest.mark.parametrize("parameters, fragment", [
    ({"type": "object", "properties": {"city": {"type": "str"}}},
     "parameters.properties.city.type: 'str' is not a JSON Schema type; did you mean 'string'?"),
    ({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["town"]},
     "parameters.required: names 'town'"),
    ({"type": "object", "properties": {"city": {"$ref": "#"}}}, "parameters.properties.city.$ref: '#' is recursive"),
    ({"type": "object", "properties": {"city": {"$ref": "#/$defs/city"}}},
     "parameters.properties.city.$ref: '#/$defs/city' does not resolve"),
    ({"type": "array"}, "parameters.type: the arguments are a JSON object"),
])
def test_a_malformed_client_tool_is_refused_naming_the_tool_and_the_path(client, rule_llm, parameters, fragment):
    response = client.post(CHAT, json=ask("weather in Rome", tools=[WEATHER_TOOL, weather_tool(parameters)]))
    assert response.status_code == 422, response.text
    err = response.json()["error"]
    assert err["code"] == "invalid_tool_schema" and err["param"] == "tools[1].function.parameters"
    assert err["message"].startswith("tools[1] 'get_weather': ") and fragment in err["message"]
    assert rule_llm.calls == []  # refused before any model ran


def test_the_role_models_check_client_tools_the_same_way(client):
    body = {"model": "planner", "messages": [{"role": "user", "content": "weather in Rome"}],
            "tools": [weather_tool({"type": "object", "properties": {"city": {"type": "dict"}}})]}
    err = client.post(CHAT, json=body).json()["error"]
    assert "tools[0] 'get_weather': parameters.properties.city.type" in err["message"]


def test_a_client_tool_with_refs_into_defs_is_served(client):
    parameters = {"type": "object", "properties": {"city": {"$ref": "#/$defs/city"}}, "required": ["city"],
                  "$defs": {"city": {"type": "string", "description": "City name."}}}
    response = client.post(CHAT, json=ask("weather in Rome", tools=[weather_tool(parameters)]))
    assert response.status_code == 200, response.text
    calls = response.json()["choices"][0]["message"]["tool_calls"]
    assert [c["function"]["name"] for c in calls] == ["get_weather"]
