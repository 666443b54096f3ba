"""A small knowledge base: countries and cities (capital, currency, airport, time zone)."""

from __future__ import annotations

from datetime import timedelta

from multiagentllm.tools.library.tables import find_city, find_country
from multiagentllm.tools.registry import ToolError, tool
from multiagentllm.tools.world import World


@tool(domain="knowledge")
def country_info(country: str) -> dict:
    """Facts about a country: capital, currency, main language, population, continent, calling code.

    Args:
        country: Country name, e.g. "Japan".
    """
    c = find_country(country)
    if c is None:
        raise ToolError(f"no entry for country {country!r}")
    return {"country": c.name, "capital": c.capital, "currency": c.currency, "language": c.language,
            "population_millions": c.population_m, "continent": c.continent, "calling_code": c.calling_code}


@tool(domain="knowledge")
def city_info(city: str) -> dict:
    """Facts about a city: country, main airport code, UTC offset and metro population.

    Args:
        city: City name, e.g. "Lisbon".
    """
    c = find_city(city)
    if c is None:
        raise ToolError(f"no entry for city {city!r}")
    return {"city": c.name, "country": c.country, "airport": c.airport, "utc_offset": c.utc_offset,
            "population_millions": c.population_m}


@tool(domain="knowledge")
def local_time(world: World, city: str) -> dict:
    """The current local date and time in a city (standard time, no daylight saving).

    Args:
        city: City name.
    """
    c = find_city(city)
    if c is None:
        raise ToolError(f"no time zone for {city!r}")
    # The world clock is UTC.
    t = world.now + timedelta(hours=c.utc_offset)
    return {"city": c.name, "date": t.date().isoformat(), "time": t.strftime("%H:%M"),
            "utc_offset": c.utc_offset}


TOOLS = [country_info, city_info, local_time]
