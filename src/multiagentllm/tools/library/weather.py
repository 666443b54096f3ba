"""Weather: a deterministic climate model per city (annual mean, seasonal swing, rain chance)."""

from __future__ import annotations

import math
from datetime import date, timedelta
from typing import Literal

from multiagentllm.tools.library.tables import City, find_city
from multiagentllm.tools.library.travel import parse_date
from multiagentllm.tools.registry import ToolError, tool
from multiagentllm.tools.world import World

FORECAST_DAYS = 14
HISTORY_DAYS = 30


def _city(name: str) -> City:
    city = find_city(name)
    if city is None:
        raise ToolError(f"no weather station for {name!r}")
    return city


def day_weather(world: World, city: City, day: date) -> dict:
    """(high, low, condition, humidity, wind) for one city and day; same world seed, same weather."""
    rng = world.rng("weather", city.name, day.isoformat())
    season = math.cos(2 * math.pi * (day.timetuple().tm_yday - 200) / 365)
    mean = city.mean_c + city.swing_c * season + rng.gauss(0, 2.0)
    spread = rng.uniform(3, 6)
    rain = rng.random() < city.rain
    if rain:
        condition = rng.choice(["light rain", "rain", "showers", "thunderstorms"] if mean > 2 else ["snow", "sleet"])
    else:
        condition = rng.choice(["sunny", "clear", "partly cloudy", "cloudy"])
    return {"high": round(mean + spread), "low": round(mean - spread), "condition": condition,
            "humidity": int(rng.uniform(55, 95) if rain else rng.uniform(25, 70)),
            "wind_kph": int(rng.uniform(3, 35))}


def _check_range(world: World, day: date) -> None:
    if day > world.today + timedelta(days=FORECAST_DAYS - 1):
        raise ToolError(f"no forecast for {day}: forecasts cover {FORECAST_DAYS} days from {world.today}")
    if day < world.today - timedelta(days=HISTORY_DAYS):
        raise ToolError(f"no records for {day}: history covers the last {HISTORY_DAYS} days")


def _convert(celsius: int, unit: str) -> int:
    return celsius if unit == "c" else round(celsius * 9 / 5 + 32)


@tool(domain="weather")
def get_weather(world: World, city: str, date: str | None = None, unit: Literal["c", "f"] = "c") -> dict:
    """Weather for a city on a day (today by default): condition, high/low temperature, humidity.

    Args:
        city: City name, e.g. "Paris".
        date: Day, YYYY-MM-DD; up to 14 days ahead or 30 days back. Defaults to today.
        unit: Temperature unit, "c" (Celsius) or "f" (Fahrenheit).
    """
    c = _city(city)
    day = parse_date(date) if date else world.today
    _check_range(world, day)
    w = day_weather(world, c, day)
    return {"city": c.name, "date": day.isoformat(), "condition": w["condition"],
            f"high_{unit}": _convert(w["high"], unit), f"low_{unit}": _convert(w["low"], unit),
            "humidity": w["humidity"], "wind_kph": w["wind_kph"]}


@tool(domain="weather")
def get_forecast(world: World, city: str, days: int = 3) -> dict:
    """Daily forecast for the next few days (starting today).

    Args:
        city: City name.
        days: How many days, 1-7.
    """
    c = _city(city)
    if not 1 <= days <= 7:
        raise ToolError("days must be between 1 and 7")
    out = []
    for i in range(days):
        day = world.today + timedelta(days=i)
        w = day_weather(world, c, day)
        out.append({"date": day.isoformat(), "condition": w["condition"], "high_c": w["high"], "low_c": w["low"]})
    return {"city": c.name, "forecast": out}


TOOLS = [get_weather, get_forecast]
