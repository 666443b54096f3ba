"""Tool retrieval: BM25 selection on the built-in tools, keep, order, caching and bad input."""

from __future__ import annotations

import pytest

from multiagentllm.tools import default_registry
from multiagentllm.tools import retrieval
from multiagentllm.tools.retrieval import DEFAULT_K, ToolRetriever, retrieve, tokenize


@pytest.fixture(scope="module")
def tools():
    return default_registry().schemas()


@pytest.fixture(scope="module")
def retriever(tools):
    return ToolRetriever(tools)


def tool(name, description="", **params):
    return {"name": name, "description": description,
            "parameters": {"type": "object", "properties": {p: {"type": "string", "description": d}
                                                              for p, d in params.items()}}}


def test_default_k_is_a_small_prompt_size():
    assert isinstance(DEFAULT_K, int) and 3 <= DEFAULT_K <= 10


def test_tokenize_splits_names_drops_stopwords_and_folds_plurals():
    assert tokenize("search_flights getWeatherNow triangle.area") == [
        "search", "flight", "get", "weather", "now", "triangle", "area"]
    assert tokenize("What is the status of the cities?") == ["what", "status", "city"]


@pytest.mark.parametrize("query, wanted", [
    ("Book me a flight from New York to Los Angeles next Tuesday", {"search_flights", "book_flight", "resolve_date"}),
    ("What's the weather in Paris tomorrow?", {"get_weather", "resolve_date"}),
    ("What is 17 times 23?", {"calculate"}),
    ("Convert 100 US dollars to euros", {"convert_currency"}),
    ("How many euros is 100 US dollars?", {"convert_currency", "get_exchange_rate"}),
    ("Find me a hotel in Rome for 3 nights from next Friday", {"search_hotels", "book_hotel", "resolve_date"}),
    ("Cancel my booking ABC123", {"cancel_booking"}),
])
def test_selects_the_tools_a_request_needs(retriever, query, wanted):
    chosen = retriever.select(query, DEFAULT_K)
    assert 1 <= len(chosen) <= DEFAULT_K
    assert wanted <= set(chosen), chosen


def test_tools_sharing_no_word_with_the_request_are_not_offered(retriever):
    chosen = retriever.select("Cancel my booking ABC123", DEFAULT_K)
    assert "cancel_booking" in chosen and len(chosen) < DEFAULT_K and "get_weather" not in chosen
    assert len(retriever.select("zzz qqq", DEFAULT_K)) == DEFAULT_K  # nothing relevant: the first k


def test_selection_keeps_the_original_order(retriever, tools):
    chosen = retriever.select("What is 17 times 23? Then book a flight", 5)
    names = [t["name"] for t in tools]
    assert chosen == sorted(chosen, key=names.index)


def test_keep_is_always_included_even_beyond_k(retriever):
    chosen = retriever.select("What is 17 times 23?", 3, keep=["slugify", "no_such_tool"])
    assert "slugify" in chosen and "calculate" in chosen and len(chosen) == 3
    many = ["slugify", "city_info", "split_bill", "get_booking"]
    assert set(retriever.select("What is 17 times 23?", 2, keep=many)) == set(many)


def test_query_with_no_known_word_fills_k_in_original_order(retriever, tools):
    first = [t["name"] for t in tools[:4]]
    assert retriever.select("zzz qqq", 4) == first
    assert retriever.select("", 4) == first
    assert retriever.select("", 4, keep=["local_time"]) == first[:3] + ["local_time"]


def test_k_at_least_the_number_of_tools_returns_all(tools):
    small = tools[:3]
    assert ToolRetriever(small).select("weather", 3) == [t["name"] for t in small]
    assert retrieve(small, "weather", 10) == small


def test_retrieve_returns_schemas_and_none_or_zero_k_means_all(tools):
    chosen = retrieve(tools, "What is 17 times 23?", 4)
    assert len(chosen) == 4 and all(c in tools for c in chosen)
    assert "calculate" in [c["name"] for c in chosen]
    assert retrieve(tools, "anything", None) == tools
    assert retrieve(tools, "anything", 0) == tools


@pytest.mark.parametrize("k", [0, -1, 2.5, "3", True])
def test_bad_k_is_refused(retriever, k):
    with pytest.raises(ValueError, match="k must be"):
        retriever.select("weather", k)


@pytest.mark.parametrize("k", [2.5, "3"])
def test_retrieve_refuses_a_non_integer_k(tools, k):
    with pytest.raises(ValueError, match="k must be"):
        retrieve(tools, "weather", k)


def test_duplicate_or_missing_names_are_refused():
    with pytest.raises(ValueError, match="duplicate tool name 'a'"):
        ToolRetriever([tool("a"), tool("b"), tool("a")])
    with pytest.raises(ValueError, match="duplicate tool name 'a'"):
        retrieve([tool("a"), tool("a")], "x", 5)
    with pytest.raises(ValueError, match=r"tools\[1\] has no string 'name'"):
        ToolRetriever([tool("a"), {"description": "nameless"}])


def test_parameters_are_searched():
    tools = [tool("lookup", "Look something up."), tool("fetch", "Fetch a record.", isbn="ISBN of a book")]
    assert ToolRetriever(tools).select("find the book with isbn 978", 1) == ["fetch"]


def test_indexes_are_cached_per_tool_list(tools, monkeypatch):
    built = []
    real = retrieval.ToolRetriever

    class Counting(real):
        def __init__(self, ts):
            built.append(len(ts))
            super().__init__(ts)

    monkeypatch.setattr(retrieval, "ToolRetriever", Counting)
    monkeypatch.setattr(retrieval, "_cache", type(retrieval._cache)())
    for query in ("weather", "flight", "hotel"):
        retrieve(tools, query, 3)
    retrieve(list(tools), "again, a copy of the same list", 3)
    assert built == [len(tools)]
    changed = [dict(tools[0], description="Something else entirely."), *tools[1:]]
    retrieve(changed, "weather", 3)  # same names, other schemas: rebuilt, never stale
    assert built == [len(tools)] * 2
    for n in range(retrieval._CACHE_SIZE + 2):  # the cache stays small
        retrieve(tools[n:], "weather", 3)
    assert len(retrieval._cache) == retrieval._CACHE_SIZE


def test_a_tool_comes_with_the_tools_its_description_needs(retriever):
    # book_flight: "Book one seat on a flight found by search_flights"
    chosen = retriever.select("Book flight for passenger Ada Lovelace and tell me the booking reference", 3)
    assert "book_flight" in chosen and "search_flights" in chosen


def test_products_are_not_about_time(retriever):
    chosen = retriever.select("What is 17 times 23?", DEFAULT_K)
    assert "calculate" in chosen and "local_time" not in chosen and "get_today" not in chosen
