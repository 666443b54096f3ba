"""The built-in tools, one test group per domain, against fresh worlds with a fixed clock."""

from __future__ import annotations

from datetime import datetime

import pytest

from multiagentllm.tools import default_registry

NOW = datetime(2024, 6, 5, 9, 0)  # a Wednesday


@pytest.fixture
def reg():
    return default_registry(seed=7, now=NOW)


def ok(obs):
    assert obs.ok, obs.content
    return obs.data


def test_seed_example_flight_new_york_to_los_angeles_next_tuesday(reg):
    day = ok(reg.call("resolve_date", {"expression": "next Tuesday"}))
    assert day == {"date": "2024-06-11", "weekday": "Tuesday"}
    found = ok(reg.call("search_flights", {"origin": "New York", "destination": "Los Angeles", "date": day["date"]}))
    assert (found["from"], found["to"]) == ("JFK", "LAX") and len(found["flights"]) >= 2
    prices = [f["price_usd"] for f in found["flights"]]
    assert prices == sorted(prices)
    cheaper = found["flights"][0]
    booking = ok(reg.call("book_flight", {"flight_id": cheaper["flight_id"], "passenger": "Ada Lovelace"}))
    assert len(booking["pnr"]) == 6 and booking["price_usd"] == cheaper["price_usd"]
    assert ok(reg.call("get_booking", {"reference": booking["pnr"]}))["status"] == "confirmed"
    # the booking changed the world: one seat fewer
    again = ok(reg.call("search_flights", {"origin": "JFK", "destination": "LAX", "date": day["date"]}))
    seats = {f["flight_id"]: f["seats_left"] for f in again["flights"]}
    assert seats.get(cheaper["flight_id"], 0) == cheaper["seats_left"] - 1


def test_worlds_are_isolated_and_reproducible(reg):
    args = {"origin": "Paris", "destination": "Rome", "date": "2024-06-20"}
    flight = ok(reg.call("search_flights", args))["flights"][0]["flight_id"]
    pnr = ok(reg.call("book_flight", {"flight_id": flight, "passenger": "Grace Hopper"}))["pnr"]
    fresh = reg.fresh()
    assert not fresh.call("get_booking", {"reference": pnr}).ok  # no booking leaks across episodes
    ok(fresh.call("search_flights", args))
    assert ok(fresh.call("book_flight", {"flight_id": flight, "passenger": "Grace Hopper"}))["pnr"] == pnr
    other_seed = reg.fresh(seed=8)
    assert other_seed.call("search_flights", args).content != fresh.call("search_flights", args).content


def test_travel_errors_and_hotels(reg):
    assert "in the past" in reg.call("search_flights", {"origin": "Paris", "destination": "Rome", "date": "2024-01-01"}).error
    assert "no airport" in reg.call("search_flights", {"origin": "Bern", "destination": "Rome", "date": "2024-07-01"}).error
    assert "search flights first" in reg.call("book_flight", {"flight_id": "XX1", "passenger": "A B"}).error
    hotels = ok(reg.call("search_hotels", {"city": "Lisbon", "check_in": "2024-06-10", "nights": 3}))["hotels"]
    assert all(h["total_usd"] == 3 * h["per_night_usd"] for h in hotels)
    conf = ok(reg.call("book_hotel", {"hotel_id": hotels[0]["hotel_id"], "guest": "Wei Chen", "check_in": "2024-06-10", "nights": 3}))
    assert conf["total_usd"] == hotels[0]["total_usd"]
    assert ok(reg.call("cancel_booking", {"reference": conf["confirmation"]}))["status"] == "cancelled"
    assert "already cancelled" in reg.call("cancel_booking", {"reference": conf["confirmation"]}).error


def test_weather_is_deterministic_and_converts_units(reg):
    c = ok(reg.call("get_weather", {"city": "Paris", "date": "2024-06-06"}))
    assert reg.fresh().call("get_weather", {"city": "Paris", "date": "2024-06-06"}).data == c
    f = ok(reg.call("get_weather", {"city": "Paris", "date": "2024-06-06", "unit": "f"}))
    assert f["high_f"] == round(c["high_c"] * 9 / 5 + 32)
    assert ok(reg.call("get_forecast", {"city": "Tokyo", "days": 4}))["forecast"][0]["date"] == "2024-06-05"
    assert "no forecast" in reg.call("get_weather", {"city": "Paris", "date": "2024-12-01"}).error
    assert "no weather station" in reg.call("get_weather", {"city": "Atlantis"}).error


@pytest.mark.parametrize("expression, expected", [
    ("today", "2024-06-05"), ("tomorrow", "2024-06-06"), ("next Wednesday", "2024-06-12"),
    ("this Wednesday", "2024-06-05"), ("Friday", "2024-06-07"), ("in 3 days", "2024-06-08"),
    ("in two weeks", "2024-06-19"), ("June 14", "2024-06-14"), ("2024-08-01", "2024-08-01"),
])
def test_calendar_resolves_dates_against_the_fixed_clock(reg, expression, expected):
    assert ok(reg.call("resolve_date", {"expression": expression}))["date"] == expected


def test_calendar_arithmetic_and_events(reg):
    assert ok(reg.call("add_days", {"start": "2024-02-27", "days": 3}))["date"] == "2024-03-01"
    assert ok(reg.call("days_between", {"start": "2024-06-05", "end": "2024-12-25"}))["days"] == 203
    assert ok(reg.call("day_of_week", {"date": "2024-06-11"}))["weekday"] == "Tuesday"
    assert "cannot understand" in reg.call("resolve_date", {"expression": "next Tusday"}).error
    ev = ok(reg.call("create_event", {"title": "Dentist", "date": "2024-06-11", "time": "10:15"}))
    assert ok(reg.call("list_events", {"date": "2024-06-11"}))["events"] == [
        {"event_id": ev["event_id"], "title": "Dentist", "time": "10:15"}]
    assert "HH:MM" in reg.call("create_event", {"title": "x", "date": "2024-06-11", "time": "25:00"}).error


def test_finance(reg):
    r = ok(reg.call("convert_currency", {"amount": 100, "from_currency": "usd", "to_currency": "JPY"}))
    assert r["result"] == 15500.0 and r["to"] == "JPY"
    assert ok(reg.call("get_exchange_rate", {"base": "EUR", "quote": "USD"}))["rate"] == round(1 / 0.92, 4)
    assert ok(reg.call("split_bill", {"total": 100, "people": 4, "tip_percent": 20}))["per_person"] == 30.0
    assert "unknown currency" in reg.call("convert_currency", {"amount": 1, "from_currency": "XYZ", "to_currency": "USD"}).error


def test_units(reg):
    assert ok(reg.call("convert_units", {"value": 10, "from_unit": "km", "to_unit": "miles"}))["result"] == 6.21
    assert ok(reg.call("convert_units", {"value": 100, "from_unit": "c", "to_unit": "f"}))["result"] == 212
    assert "cannot convert" in reg.call("convert_units", {"value": 1, "from_unit": "kg", "to_unit": "km"}).error


def test_math(reg):
    assert ok(reg.call("calculate", {"expression": "(12.5 + 7.5) * 3"}))["result"] == 60
    assert ok(reg.call("describe_numbers", {"numbers": [3, 5, 10]}))["median"] == 5
    assert ok(reg.call("percentage", {"part": 30, "whole": 120}))["percent"] == 25
    assert "division by zero" in reg.call("calculate", {"expression": "1/0"}).error
    assert "unsupported" in reg.call("calculate", {"expression": "__import__('os')"}).error


def test_text(reg):
    assert ok(reg.call("count_words", {"text": "Hello there. How are you?"})) == {"words": 5, "characters": 25, "sentences": 2}
    assert ok(reg.call("change_case", {"text": "a tale", "case": "title"}))["result"] == "A Tale"
    assert ok(reg.call("translate_phrase", {"phrase": "Thank you!", "language": "German"}))["translation"] == "danke"
    assert ok(reg.call("slugify", {"text": "Hello, World 2"}))["slug"] == "hello-world-2"
    assert "not in the phrasebook" in reg.call("translate_phrase", {"phrase": "xyz", "language": "German"}).error


def test_knowledge(reg):
    assert ok(reg.call("country_info", {"country": "Japan"}))["capital"] == "Tokyo"
    assert ok(reg.call("city_info", {"city": "lisbon"}))["airport"] == "LIS"
    assert ok(reg.call("local_time", {"city": "Tokyo"}))["time"] == "18:00"
    assert "no entry" in reg.call("country_info", {"country": "Atlantis"}).error
