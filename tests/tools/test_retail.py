"""Retail tools over the real tau-bench database: look-ups, writes, tau-bench's error paths, and a
per-episode copy that never touches the files."""

import json

import pytest

from multiagentllm.tools.library import retail
from multiagentllm.tools.library.retail import RetailDB, retail_registry

pytestmark = pytest.mark.skipif(not retail.available(), reason="tau-bench retail data not under the data root")


@pytest.fixture
def reg():
    return retail_registry(timeout=None)


def call(reg, name, **args):
    return reg.call(name, args)


def test_look_ups(reg):
    assert call(reg, "find_user_id_by_name_zip", first_name="omar", last_name="ANDERSON", zip="19031").content == "omar_anderson_3203"
    assert call(reg, "find_user_id_by_email", email="James.Li4495@example.com").content == "james_li_5688"
    assert json.loads(call(reg, "find_user_id_by_email", email="nobody@example.com").content) == {"error": "user not found"}
    user = json.loads(call(reg, "get_user_details", user_id="omar_anderson_3203").content)
    assert "#W6067464" in user["orders"] and "credit_card_4190576" in user["payment_methods"]
    order = json.loads(call(reg, "get_order_details", order_id="#W6067464").content)
    assert order["status"] == "delivered" and order["user_id"] == "omar_anderson_3203"
    assert not call(reg, "get_order_details", order_id="W6067464").ok  # the '#' matters
    types = json.loads(call(reg, "list_all_product_types").content)
    assert len(types) == 50 and list(types) == sorted(types)
    product = json.loads(call(reg, "get_product_details", product_id=types["Coffee Maker"]).content)
    assert product["name"] == "Coffee Maker" and product["variants"]


def test_return_changes_only_this_episode(reg):
    before = reg.world.retail_db.state_hash()
    obs = call(reg, "return_delivered_order_items", order_id="#W6067464", item_ids=["9624127908", "8917609800"],
               payment_method_id="credit_card_4190576")
    assert obs.ok and obs.data["status"] == "return requested"
    assert obs.data["return_items"] == ["8917609800", "9624127908"]
    assert reg.world.retail_db.state_hash() != before
    fresh = retail_registry(timeout=None)  # a new episode starts from the files again
    assert json.loads(call(fresh, "get_order_details", order_id="#W6067464").content)["status"] == "delivered"
    assert fresh.world.retail_db.state_hash() == before
    # a second return of the same (now return-requested) order is refused, as in tau-bench
    again = call(reg, "return_delivered_order_items", order_id="#W6067464", item_ids=["9624127908"],
                 payment_method_id="credit_card_4190576")
    assert json.loads(again.content) == {"error": "non-delivered order cannot be returned"}


def test_return_error_paths(reg):
    bad = {"payment_method_id": "paypal_0000000"}
    assert call(reg, "return_delivered_order_items", order_id="#W6067464", item_ids=["9624127908"], **bad).error == \
        "payment method not found"
    assert call(reg, "return_delivered_order_items", order_id="#W6067464", item_ids=["9624127908", "9624127908"],
                payment_method_id="credit_card_4190576").error == "some item not found"
    assert call(reg, "return_delivered_order_items", order_id="#W0000000", item_ids=[],
                payment_method_id="credit_card_4190576").error == "order not found"


def _pending_with_gift_card(db: RetailDB):
    for oid, order in db.tables["orders"].items():
        pay = order["payment_history"]
        if order["status"] == "pending" and len(pay) == 1 and pay[0]["payment_method_id"].startswith("gift_card"):
            return oid, order
    raise AssertionError("no pending order paid by gift card")


def test_cancel_refunds_gift_card_at_once(reg):
    db = reg.world.retail_db
    oid, order = _pending_with_gift_card(db)
    card = order["payment_history"][0]["payment_method_id"]
    balance = db.get("users", order["user_id"])["payment_methods"][card]["balance"]
    assert call(reg, "cancel_pending_order", order_id=oid, reason="because").error.startswith("argument 'reason'")
    obs = call(reg, "cancel_pending_order", order_id=oid, reason="no longer needed")
    assert obs.ok and obs.data["status"] == "cancelled" and obs.data["cancel_reason"] == "no longer needed"
    assert obs.data["payment_history"][-1] == {"transaction_type": "refund", "amount": order["payment_history"][0]["amount"],
                                               "payment_method_id": card}
    user = json.loads(call(reg, "get_user_details", user_id=order["user_id"]).content)
    assert user["payment_methods"][card]["balance"] == round(balance + order["payment_history"][0]["amount"], 2)
    assert call(reg, "cancel_pending_order", order_id=oid, reason="no longer needed").error == \
        "non-pending order cannot be cancelled"


def test_payment_change_checks_gift_card_balance(reg):
    # tau-bench train task 24: the gift card holds 18, the order costs 97.35
    obs = call(reg, "modify_pending_order_payment", order_id="#W7602708", payment_method_id="gift_card_8893815")
    assert obs.error == "insufficient gift card balance to pay for the order"
    assert call(reg, "modify_pending_order_payment", order_id="#W7602708",
                payment_method_id="credit_card_9801224").error == \
        "the new payment method should be different from the current one"


def test_modify_items_pays_the_difference(reg):
    order = json.loads(call(reg, "get_order_details", order_id="#W7425646").content)
    item = next(i for i in order["items"] if i["name"] == "Smart Thermostat")
    product = json.loads(call(reg, "get_product_details", product_id=item["product_id"]).content)
    new = next(v for k, v in product["variants"].items() if k != item["item_id"] and v["available"])
    obs = call(reg, "modify_pending_order_items", order_id="#W7425646", item_ids=[item["item_id"]],
               new_item_ids=[new["item_id"]], payment_method_id="credit_card_1283450")
    assert obs.ok and obs.data["status"] == "pending (item modified)"
    changed = next(i for i in obs.data["items"] if i["item_id"] == new["item_id"])
    assert changed["price"] == new["price"] and changed["options"] == new["options"]
    last = obs.data["payment_history"][-1]
    assert last["amount"] == abs(new["price"] - item["price"]) and last["payment_method_id"] == "credit_card_1283450"
    # modified once: the order is no longer "pending"
    assert call(reg, "modify_pending_order_items", order_id="#W7425646", item_ids=[new["item_id"]],
                new_item_ids=[item["item_id"]], payment_method_id="credit_card_1283450").error == \
        "non-pending order cannot be modified"


def test_exchange_refuses_another_product(reg):
    obs = call(reg, "exchange_delivered_order_items", order_id="#W7736983", item_ids=["5952720925"],
               new_item_ids=["9624127908"], payment_method_id="paypal_6840891")
    assert obs.error == "new item 9624127908 not found or available"
    obs = call(reg, "exchange_delivered_order_items", order_id="#W7736983", item_ids=["5952720925"],
               new_item_ids=["1323134954"], payment_method_id="paypal_6840891")
    assert obs.ok and obs.data["status"] == "exchange requested" and obs.data["exchange_price_difference"] == -23.24


def test_tools_are_not_builtin_and_load_lazily():
    from multiagentllm.tools import default_registry
    from multiagentllm.tools.library import DATA_DOMAINS

    assert not set(default_registry().names) & {t.name for t in retail.TOOLS}
    assert DATA_DOMAINS["retail"] == retail.TOOLS
    reg = retail_registry(timeout=None)
    assert reg.toolset("retail")[-1] == "calculate" and len(reg.toolset("retail")) == 15


def test_missing_data_says_where(tmp_path):
    with pytest.raises(FileNotFoundError, match="UMI_DATA_ROOT"):
        RetailDB.load(tmp_path)
    assert not retail.available(tmp_path)
