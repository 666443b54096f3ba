"""Retail: the tau-bench retail store (users, orders, products) as tools over a per-episode copy.

The database is tau-bench's (MIT, sierra-research/tau-bench), read from the shared datasets
folder (`tau-bench/tau_bench/envs/retail/data/{users,orders,products}.json`, under
`paths.default_data_root()`, i.e. $UMI_DATA_ROOT or ../shared/datasets); it is never
copied into the repository. The tools are written here from tau-bench's tool descriptions and
data, and follow its rules so that the same calls leave the same database state: a pending order
can be cancelled (refund of every payment, a gift card credited at once) or have its address,
items (once; the price difference paid or refunded) or payment changed; a delivered order can have
items returned (to the original method or a gift card) or exchanged for variants of the same
product, once; a gift card must cover what it pays. The checks run in tau-bench's order, and an
error is tau-bench's message without its "Error: " prefix (the registry wraps it as
`{"error": ...}`). `calculate` is the library's own (`mathtools`); tau-bench's `think` tool is left
out: the planner's rationale is where this agent thinks.

Each `World` gets its own `RetailDB` on first use: the tables start as the shared, parsed files,
and a record is copied the first time a tool changes it, so a fresh episode costs a few dict
copies and the files are never written. `RetailDB.state_hash` is the state a benchmark compares
(tau-bench compares a hash of the whole database after the gold actions).

Without the data the tools are not registered: `available()` is false and `retail_registry`
raises a `FileNotFoundError` that says where the files were looked for; importing this module
never needs them.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Literal

from multiagentllm.io import DataError, parse_json, read_text
from multiagentllm.paths import default_data_root
from multiagentllm.tools.library.mathtools import calculate
from multiagentllm.tools.registry import ToolError, ToolRegistry, tool
from multiagentllm.tools.world import World

DATA_SUBDIR = Path("tau-bench/tau_bench/envs/retail/data")
TABLES = ("users", "orders", "products")


def data_dir(data_root: str | os.PathLike | None = None) -> Path:
    """Where the retail database lives under the data root (the default root when None)."""
    if data_root is None:
        data_root = default_data_root()
    return Path(data_root) / DATA_SUBDIR


def available(data_root: str | os.PathLike | None = None) -> bool:
    folder = data_dir(data_root)
    return all((folder / f"{t}.json").is_file() for t in TABLES)


def _canonical(record: Any) -> bytes:
    return json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class BaseTables:
    """The parsed files of one data folder, shared read-only by every episode's `RetailDB`."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.tables: dict[str, dict[str, Any]] = {}
        for name in TABLES:
            path = folder / f"{name}.json"
            rows = parse_json(read_text(path), path, None)
            if not isinstance(rows, dict):
                raise DataError(path, None, f"the {name} table must be a JSON object keyed by id")
            self.tables[name] = rows
        self._digests: dict[str, dict[str, bytes]] = {}

    def digest(self, table: str, key: str) -> bytes:
        """The digest of an unchanged record (computed once, on the first hash)."""
        digests = self._digests.get(table)
        if digests is None:
            digests = self._digests[table] = {k: hashlib.sha256(_canonical(v)).digest()
                                              for k, v in self.tables[table].items()}
        return digests[key]


@functools.lru_cache(maxsize=4)
def base_tables(folder: str) -> BaseTables:
    return BaseTables(Path(folder))


class RetailDB:
    """One episode's database: reads see the shared tables, `edit` copies a record before a
    tool changes it, `state_hash` digests the whole state."""

    def __init__(self, base: BaseTables):
        self.base = base
        self.tables = {name: dict(rows) for name, rows in base.tables.items()}
        self.copied: set[tuple[str, str]] = set()

    @classmethod
    def load(cls, folder: str | os.PathLike | None = None) -> "RetailDB":
        folder = Path(folder) if folder is not None else data_dir()
        if not all((folder / f"{t}.json").is_file() for t in TABLES):
            raise FileNotFoundError(f"the tau-bench retail database is not in {folder} "
                                    f"({', '.join(t + '.json' for t in TABLES)}); set UMI_DATA_ROOT")
        return cls(base_tables(str(folder.resolve())))

    def get(self, table: str, key: str) -> dict[str, Any] | None:
        return self.tables[table].get(key)

    def edit(self, table: str, key: str) -> dict[str, Any]:
        if (table, key) not in self.copied:
            self.tables[table][key] = copy.deepcopy(self.tables[table][key])
            self.copied.add((table, key))
        return self.tables[table][key]

    def snapshot(self) -> dict[str, dict[str, Any]]:
        return {name: {k: copy.deepcopy(v) for k, v in rows.items()} for name, rows in self.tables.items()}

    def state_hash(self) -> str:
        h = hashlib.sha256()
        for name in TABLES:
            rows = self.tables[name]
            for key in sorted(rows):
                if (name, key) in self.copied or key not in self.base.tables[name]:
                    digest = hashlib.sha256(_canonical(rows[key])).digest()
                else:
                    digest = self.base.digest(name, key)
                h.update(f"{name}\0{key}\0".encode() + digest)
        return h.hexdigest()


def database(world: World) -> RetailDB:
    """This world's retail database, loaded from the default data folder on first use."""
    with world.lock:
        db = getattr(world, "retail_db", None)
        if db is None:
            try:
                db = RetailDB.load()
            except FileNotFoundError as e:
                raise ToolError(str(e)) from None
            world.retail_db = db
        return db


def attach(world: World, db: RetailDB) -> World:
    """Give `world` this database (a benchmark's or a loader's copy, from any folder)."""
    world.retail_db = db
    return world


def _order(db: RetailDB, order_id: str, status: str | None = None, action: str = "") -> dict[str, Any]:
    """The order, editable; with `status`, one in that status or a ToolError that it cannot be `action`."""
    if db.get("orders", order_id) is None:
        raise ToolError("order not found")
    order = db.edit("orders", order_id)
    if status is not None and order["status"] != status:
        raise ToolError(f"non-{status} order cannot be {action}")
    return order


def _payment_method(db: RetailDB, user_id: str, payment_method_id: str) -> dict[str, Any]:
    method = db.get("users", user_id)["payment_methods"].get(payment_method_id)
    if method is None:
        raise ToolError("payment method not found")
    return method


def _credit_gift_card(db: RetailDB, user_id: str, payment_method_id: str, amount: float) -> None:
    method = db.edit("users", user_id)["payment_methods"][payment_method_id]
    method["balance"] = round(method["balance"] + amount, 2)


def _check_items(order: dict[str, Any], item_ids: list[str], message: str | None = None) -> None:
    """Every id of `item_ids` (duplicates counted) is an item of the order."""
    in_order = [item["item_id"] for item in order["items"]]
    for item_id in item_ids:
        if item_ids.count(item_id) > in_order.count(item_id):
            raise ToolError(message or f"{item_id} not found")


def _price_difference(db: RetailDB, order: dict[str, Any], item_ids: list[str], new_item_ids: list[str]) -> float:
    """What the new variants cost more than the old items (negative: a refund); each new id
    must be an available variant of the old item's product."""
    if len(item_ids) != len(new_item_ids):
        raise ToolError("the number of items to be exchanged should match")
    diff = 0
    for item_id, new_id in zip(item_ids, new_item_ids):
        item = next(i for i in order["items"] if i["item_id"] == item_id)
        variants = db.get("products", item["product_id"])["variants"]
        if new_id not in variants or not variants[new_id]["available"]:
            raise ToolError(f"new item {new_id} not found or available")
        diff += variants[new_id]["price"] - item["price"]
    return diff


@tool(domain="retail")
def find_user_id_by_email(world: World, email: str) -> str:
    """Find a customer's user id from their email address.

    Args:
        email: The customer's email, e.g. "jane.doe1234@example.com".
    """
    for user_id, user in database(world).tables["users"].items():
        if user["email"].lower() == email.lower():
            return user_id
    raise ToolError("user not found")


@tool(domain="retail")
def find_user_id_by_name_zip(world: World, first_name: str, last_name: str, zip: str) -> str:
    """Find a customer's user id from their first name, last name and zip code (when the email is unknown).

    Args:
        first_name: The customer's first name, e.g. "Jane".
        last_name: The customer's last name, e.g. "Doe".
        zip: The zip code of the customer's address, e.g. "12345".
    """
    for user_id, user in database(world).tables["users"].items():
        name = user["name"]
        if (name["first_name"].lower() == first_name.lower() and name["last_name"].lower() == last_name.lower()
                and user["address"]["zip"] == zip):
            return user_id
    raise ToolError("user not found")


@tool(domain="retail")
def get_user_details(world: World, user_id: str) -> dict:
    """A customer's profile: name, address, email, payment methods (gift card balances) and order ids.

    Args:
        user_id: The user id, e.g. "jane_doe_1234".
    """
    user = database(world).get("users", user_id)
    if user is None:
        raise ToolError("user not found")
    return copy.deepcopy(user)


@tool(domain="retail")
def get_order_details(world: World, order_id: str) -> dict:
    """An order's status, items (item id, product id, price, options), address, shipments and payments.

    Args:
        order_id: The order id, starting with '#', e.g. "#W0000000".
    """
    order = database(world).get("orders", order_id)
    if order is None:
        raise ToolError("order not found")
    return copy.deepcopy(order)


@tool(domain="retail")
def get_product_details(world: World, product_id: str) -> dict:
    """A product type and all its variants: item id, options, price and availability.

    Args:
        product_id: The product id (not an item id), e.g. "6086499569".
    """
    product = database(world).get("products", product_id)
    if product is None:
        raise ToolError("product not found")
    return copy.deepcopy(product)


@tool(domain="retail")
def list_all_product_types(world: World) -> dict:
    """The names of the store's 50 product types with their product ids."""
    products = database(world).tables["products"].values()
    return dict(sorted((p["name"], p["product_id"]) for p in products))


@tool(domain="retail")
def cancel_pending_order(world: World, order_id: str, reason: Literal["no longer needed", "ordered by mistake"]) -> dict:
    """Cancel a pending order and refund its payments (to a gift card at once, otherwise in 5-7 business days).

    Args:
        order_id: The order id, starting with '#', e.g. "#W0000000".
        reason: Why the customer cancels: "no longer needed" or "ordered by mistake".
    """
    db = database(world)
    with world.lock:
        order = _order(db, order_id, "pending", "cancelled")
        if reason not in ("no longer needed", "ordered by mistake"):
            raise ToolError("invalid reason")
        refunds = []
        for payment in order["payment_history"]:
            method_id = payment["payment_method_id"]
            refunds.append({"transaction_type": "refund", "amount": payment["amount"], "payment_method_id": method_id})
            if "gift_card" in method_id:
                _credit_gift_card(db, order["user_id"], method_id, payment["amount"])
        order["status"] = "cancelled"
        order["cancel_reason"] = reason
        order["payment_history"].extend(refunds)
        return copy.deepcopy(order)


@tool(domain="retail")
def modify_pending_order_address(world: World, order_id: str, address1: str, address2: str, city: str, state: str,
                                 country: str, zip: str) -> dict:
    """Change the shipping address of a pending order.

    Args:
        order_id: The order id, starting with '#', e.g. "#W0000000".
        address1: First address line, e.g. "123 Main St".
        address2: Second address line, e.g. "Apt 1" (may be "").
        city: City, e.g. "Austin".
        state: State, e.g. "TX".
        country: Country, e.g. "USA".
        zip: Zip code, e.g. "78701".
    """
    db = database(world)
    with world.lock:
        order = _order(db, order_id, "pending", "modified")
        order["address"] = {"address1": address1, "address2": address2, "city": city, "state": state,
                            "country": country, "zip": zip}
        return copy.deepcopy(order)


@tool(domain="retail")
def modify_pending_order_items(world: World, order_id: str, item_ids: list[str], new_item_ids: list[str],
                               payment_method_id: str) -> dict:
    """Swap items of a pending order for other variants of the same products (once per order); the price difference is paid or refunded.

    Args:
        order_id: The order id, starting with '#', e.g. "#W0000000".
        item_ids: Item ids in the order to change; repeat an id to change several of the same item.
        new_item_ids: The new variants' item ids, one per entry of item_ids, same product, same position.
        payment_method_id: Payment method that pays or receives the difference, e.g. "gift_card_0000000".
    """
    db = database(world)
    with world.lock:
        order = _order(db, order_id, "pending", "modified")
        _check_items(order, item_ids)
        diff = _price_difference(db, order, item_ids, new_item_ids)
        method = _payment_method(db, order["user_id"], payment_method_id)
        if method["source"] == "gift_card" and method["balance"] < diff:
            raise ToolError("insufficient gift card balance to pay for the new item")
        order["payment_history"].append({"transaction_type": "payment" if diff > 0 else "refund",
                                         "amount": abs(diff), "payment_method_id": payment_method_id})
        if method["source"] == "gift_card":
            _credit_gift_card(db, order["user_id"], payment_method_id, -diff)
        for item_id, new_id in zip(item_ids, new_item_ids):
            item = next(i for i in order["items"] if i["item_id"] == item_id)
            variant = db.get("products", item["product_id"])["variants"][new_id]
            item["item_id"], item["price"] = new_id, variant["price"]
            item["options"] = copy.deepcopy(variant["options"])
        order["status"] = "pending (item modified)"
        return copy.deepcopy(order)


@tool(domain="retail")
def modify_pending_order_payment(world: World, order_id: str, payment_method_id: str) -> dict:
    """Pay a pending order with another payment method; the old one is refunded.

    Args:
        order_id: The order id, starting with '#', e.g. "#W0000000".
        payment_method_id: The new payment method, e.g. "credit_card_0000000".
    """
    db = database(world)
    with world.lock:
        order = _order(db, order_id, "pending", "modified")
        user_id = order["user_id"]
        method = _payment_method(db, user_id, payment_method_id)
        history = order["payment_history"]
        if len(history) > 1 or history[0]["transaction_type"] != "payment":
            raise ToolError("there should be exactly one payment for a pending order")
        old_id, amount = history[0]["payment_method_id"], history[0]["amount"]
        if old_id == payment_method_id:
            raise ToolError("the new payment method should be different from the current one")
        if method["source"] == "gift_card" and method["balance"] < amount:
            raise ToolError("insufficient gift card balance to pay for the order")
        history.extend([{"transaction_type": "payment", "amount": amount, "payment_method_id": payment_method_id},
                        {"transaction_type": "refund", "amount": amount, "payment_method_id": old_id}])
        if method["source"] == "gift_card":
            _credit_gift_card(db, user_id, payment_method_id, -amount)
        if "gift_card" in old_id:
            _credit_gift_card(db, user_id, old_id, amount)
        return copy.deepcopy(order)


@tool(domain="retail")
def modify_user_address(world: World, user_id: str, address1: str, address2: str, city: str, state: str,
                        country: str, zip: str) -> dict:
    """Change a customer's default address (their orders keep theirs).

    Args:
        user_id: The user id, e.g. "jane_doe_1234".
        address1: First address line, e.g. "123 Main St".
        address2: Second address line, e.g. "Apt 1" (may be "").
        city: City, e.g. "Austin".
        state: State, e.g. "TX".
        country: Country, e.g. "USA".
        zip: Zip code, e.g. "78701".
    """
    db = database(world)
    with world.lock:
        if db.get("users", user_id) is None:
            raise ToolError("user not found")
        user = db.edit("users", user_id)
        user["address"] = {"address1": address1, "address2": address2, "city": city, "state": state,
                           "country": country, "zip": zip}
        return copy.deepcopy(user)


@tool(domain="retail")
def return_delivered_order_items(world: World, order_id: str, item_ids: list[str], payment_method_id: str) -> dict:
    """Request the return of items of a delivered order, refunded to the original payment method or a gift card.

    Args:
        order_id: The order id, starting with '#', e.g. "#W0000000".
        item_ids: Item ids to return; repeat an id to return several of the same item.
        payment_method_id: Where the refund goes: the order's original payment method or a gift card.
    """
    db = database(world)
    with world.lock:
        order = _order(db, order_id, "delivered", "returned")
        _payment_method(db, order["user_id"], payment_method_id)
        if "gift_card" not in payment_method_id and payment_method_id != order["payment_history"][0]["payment_method_id"]:
            raise ToolError("payment method should be either the original payment method or a gift card")
        _check_items(order, item_ids, "some item not found")
        order["status"] = "return requested"
        order["return_items"] = sorted(item_ids)
        order["return_payment_method_id"] = payment_method_id
        return copy.deepcopy(order)


@tool(domain="retail")
def exchange_delivered_order_items(world: World, order_id: str, item_ids: list[str], new_item_ids: list[str],
                                   payment_method_id: str) -> dict:
    """Request the exchange of items of a delivered order for other variants of the same products (once per order).

    Args:
        order_id: The order id, starting with '#', e.g. "#W0000000".
        item_ids: Item ids in the order to exchange; repeat an id to exchange several of the same item.
        new_item_ids: The new variants' item ids, one per entry of item_ids, same product, same position.
        payment_method_id: Payment method that pays or receives the difference, e.g. "paypal_0000000".
    """
    db = database(world)
    with world.lock:
        order = _order(db, order_id, "delivered", "exchanged")
        _check_items(order, item_ids)
        diff = round(_price_difference(db, order, item_ids, new_item_ids), 2)
        method = _payment_method(db, order["user_id"], payment_method_id)
        if method["source"] == "gift_card" and method["balance"] < diff:
            raise ToolError("insufficient gift card balance to pay for the price difference")
        order["status"] = "exchange requested"
        order["exchange_items"] = sorted(item_ids)
        order["exchange_new_items"] = sorted(new_item_ids)
        order["exchange_payment_method_id"] = payment_method_id
        order["exchange_price_difference"] = diff
        return copy.deepcopy(order)


@tool(domain="retail")
def transfer_to_human_agents(world: World, summary: str) -> str:
    """Hand the customer to a human agent with a summary of the issue (only when asked for, or when no tool can help).

    Args:
        summary: What the customer needs and what was done so far.
    """
    return "Transfer successful"


TOOLS = [find_user_id_by_email, find_user_id_by_name_zip, get_user_details, get_order_details, get_product_details,
         list_all_product_types, cancel_pending_order, modify_pending_order_address, modify_pending_order_items,
         modify_pending_order_payment, modify_user_address, return_delivered_order_items,
         exchange_delivered_order_items, transfer_to_human_agents]
WRITE_TOOLS = ("cancel_pending_order", "modify_pending_order_address", "modify_pending_order_items",
               "modify_pending_order_payment", "modify_user_address", "return_delivered_order_items",
               "exchange_delivered_order_items")


def retail_registry(db: RetailDB | None = None, *, timeout: float | None = 10.0) -> ToolRegistry:
    """A registry of the retail tools (and the library's `calculate`, as tau-bench offers one)
    over `db`, by default a fresh copy of the database under the data root; tool set "retail"."""
    db = db if db is not None else RetailDB.load()
    registry = ToolRegistry(default_timeout=timeout)
    registry.extend([*TOOLS, calculate])
    registry.add_toolset("retail", registry.names)
    attach(registry.world, db)
    return registry
