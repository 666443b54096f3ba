"""Money: currency conversion from a fixed rate table, and bill splitting."""

from __future__ import annotations

from multiagentllm.tools.library.tables import CURRENCY_NAMES, USD_RATES
from multiagentllm.tools.registry import ToolError, tool


def _code(code: str) -> str:
    c = code.strip().upper()
    if c not in USD_RATES:
        raise ToolError(f"unknown currency {code!r}; use a 3-letter ISO code such as USD, EUR, JPY")
    return c


def rate(base: str, quote: str) -> float:
    return USD_RATES[quote] / USD_RATES[base]


def money(x: float) -> float:
    """Round for display: cents for ordinary amounts, whole units for large ones."""
    return round(x, 2) if abs(x) < 100000 else round(x)


@tool(domain="finance")
def get_exchange_rate(base: str, quote: str) -> dict:
    """How many units of one currency one unit of another buys.

    Args:
        base: Currency to convert from, ISO code (e.g. "USD").
        quote: Currency to convert to, ISO code (e.g. "EUR").
    """
    b, q = _code(base), _code(quote)
    return {"base": b, "quote": q, "rate": round(rate(b, q), 4)}


@tool(domain="finance")
def convert_currency(amount: float, from_currency: str, to_currency: str) -> dict:
    """Convert an amount of money between currencies.

    Args:
        amount: The amount to convert.
        from_currency: ISO code of the amount's currency.
        to_currency: ISO code of the target currency.
    """
    f, t = _code(from_currency), _code(to_currency)
    if amount < 0:
        raise ToolError("amount must not be negative")
    r = rate(f, t)
    return {"amount": amount, "from": f, "to": t, "rate": round(r, 4), "result": money(amount * r)}


@tool(domain="finance")
def currency_info(code: str) -> dict:
    """Name of a currency and its value in US dollars.

    Args:
        code: ISO currency code, e.g. "GBP".
    """
    c = _code(code)
    return {"code": c, "name": CURRENCY_NAMES[c], "usd_per_unit": round(1 / USD_RATES[c], 4)}


@tool(domain="finance")
def split_bill(total: float, people: int, tip_percent: float = 0) -> dict:
    """Split a bill evenly, optionally adding a tip first.

    Args:
        total: Bill total before tip.
        people: Number of people sharing.
        tip_percent: Tip as a percentage of the total, e.g. 15.
    """
    if people < 1:
        raise ToolError("people must be at least 1")
    if total < 0 or tip_percent < 0:
        raise ToolError("total and tip_percent must not be negative")
    with_tip = total * (1 + tip_percent / 100)
    return {"total_with_tip": round(with_tip, 2), "per_person": round(with_tip / people, 2),
            "people": people}


TOOLS = [get_exchange_rate, convert_currency, currency_info, split_bill]
