"""Where the plan's prices come from: the Price List API's answer parsed, or the shipped table."""

from __future__ import annotations

import json
from typing import Any

import pytest
from workshop_hub import costs

from hubctl.errors import BadInput
from hubctl.plan import command, prices


def product(usd: str) -> str:
    return json.dumps(
        {
            "product": {"attributes": {}},
            "terms": {
                "OnDemand": {
                    "X.Y": {"priceDimensions": {"X.Y.Z": {"unit": "Hrs", "pricePerUnit": {"USD": usd}}}}
                }
            },
        }
    )


class FakePricing:
    """What pricing.get_products answers, keyed by the instanceType filter (volumes: 'gp3')."""

    def __init__(self, hourly: dict[str, str], gp3: str | None) -> None:
        self.hourly = hourly
        self.gp3 = gp3
        self.calls: list[dict[str, str]] = []

    def get_products(self, **kwargs: Any) -> dict[str, Any]:
        filters = {f["Field"]: f["Value"] for f in kwargs["Filters"]}
        self.calls.append(filters)
        assert kwargs["ServiceCode"] == "AmazonEC2"
        if "volumeApiName" in filters:
            return {"PriceList": [product(self.gp3)] if self.gp3 else []}
        usd = self.hourly.get(filters["instanceType"])
        # a zero-priced term first (as reserved-capacity rows have), then the real one
        return {"PriceList": [product("0.0000000000"), product(usd)] if usd else []}


def test_price_list_answers_become_a_price_book():
    fake = FakePricing({"t3.medium": "0.0420000000", "t4g.large": "0.0670000000"}, gp3="0.0800000000")
    book = prices.from_price_list("eu-central-1", fake)
    assert book.source == "price-list-api" and book.region == "eu-central-1"
    assert book.price("t3.medium") == 0.042 and book.price("t4g.large") == 0.067
    assert book.price("m7i.large") is None  # not answered: left out, never guessed
    assert book.ebs_gp3_gib_month == 0.08 and book.public_ipv4_hour == 0.005
    instance_calls = [c for c in fake.calls if "instanceType" in c]
    assert all(
        c["regionCode"] == "eu-central-1" and c["operatingSystem"] == "Linux" and c["tenancy"] == "Shared"
        for c in instance_calls
    )
    assert len(instance_calls) == len(costs.TYPES)


def test_price_list_without_answers_is_refused():
    with pytest.raises(BadInput, match="no prices for region 'eu-central-1'"):
        prices.from_price_list("eu-central-1", FakePricing({}, gp3=None))


def test_the_table_is_dated_and_named(monkeypatch):
    book, notes = command.price_book("eu-west-1", command.PriceSource.table)
    assert book.source == "table" and costs.TABLE_DATE in book.detail and "aws.amazon.com" in book.detail
    assert notes == []


def test_auto_without_credentials_uses_the_table_and_says_so(monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    book, notes = command.price_book("us-east-1", command.PriceSource.auto)
    assert book.source == "table"
    assert notes == ["no AWS credentials: prices from the shipped table"]
    with pytest.raises(BadInput, match="--prices live needs AWS credentials"):
        command.price_book("us-east-1", command.PriceSource.live)
