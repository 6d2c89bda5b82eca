"""The plan's prices: the shipped table (workshop_hub.costs, which the stacks' budget uses too), or AWS's
Price List API for the same types."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from workshop_hub.costs import PUBLIC_IPV4_PER_HOUR, TYPES, NoPrices, PriceBook, Priced
from workshop_hub.costs import from_table as table_prices

from hubctl.errors import BadInput


def from_table(region: str) -> PriceBook:
    """The shipped table's prices; a region it lacks is refused with what to do instead."""
    try:
        return table_prices(region)
    except NoPrices as err:
        raise BadInput(
            str(err),
            "run with AWS credentials and --prices live (the Price List API), or plan with --region of a "
            "neighbouring region for an estimate",
        ) from None


def _on_demand_usd(product: dict[str, Any]) -> float | None:
    for term in product.get("terms", {}).get("OnDemand", {}).values():
        for dimension in term.get("priceDimensions", {}).values():
            usd = dimension.get("pricePerUnit", {}).get("USD")
            if usd is not None and float(usd) > 0:
                return float(usd)
    return None


def from_price_list(region: str, client: Any) -> PriceBook:
    """Prices from the Price List API (``pricing`` client, served from us-east-1); types the table knows."""
    hourly: dict[str, float] = {}
    for each in TYPES:
        filters = [
            {"Type": "TERM_MATCH", "Field": field, "Value": value}
            for field, value in (
                ("regionCode", region),
                ("instanceType", each.name),
                ("operatingSystem", "Linux"),
                ("tenancy", "Shared"),
                ("preInstalledSw", "NA"),
                ("capacitystatus", "Used"),
            )
        ]
        answer = client.get_products(ServiceCode="AmazonEC2", Filters=filters, MaxResults=10)
        for text in answer.get("PriceList", []):
            usd = _on_demand_usd(json.loads(text))
            if usd is not None:
                hourly[each.name] = usd
                break
    gp3 = None
    answer = client.get_products(
        ServiceCode="AmazonEC2",
        Filters=[
            {"Type": "TERM_MATCH", "Field": "regionCode", "Value": region},
            {"Type": "TERM_MATCH", "Field": "volumeApiName", "Value": "gp3"},
            {"Type": "TERM_MATCH", "Field": "productFamily", "Value": "Storage"},
        ],
        MaxResults=10,
    )
    for text in answer.get("PriceList", []):
        gp3 = _on_demand_usd(json.loads(text))
        if gp3 is not None:
            break
    if not hourly or gp3 is None:
        raise BadInput(f"the Price List API had no prices for region '{region}'", "plan with --prices table")
    return PriceBook(
        region=region,
        source="price-list-api",
        detail=f"AWS Price List API (pricing.get_products), fetched {_today()}",
        ebs_gp3_gib_month=gp3,
        public_ipv4_hour=PUBLIC_IPV4_PER_HOUR,
        instances=tuple(Priced(t, hourly[t.name]) for t in TYPES if t.name in hourly),
    )


def _today() -> str:
    return dt.datetime.now(dt.UTC).date().isoformat()
