"""An AWS Budget for the hub's month: mails alerts.email at 80% and 100% of the estimate.

The amount, in this order: ``alerts.budget_usd``; ``plan.monthly_usd`` (what `hubctl plan --apply`
estimated); the schedule's busiest month priced from the shipped table (workshop_hub/costs.py). The
budget counts the costs tagged ``workshop-hub:hub = <hub.name>`` (every resource of the hub stack carries
it): activate that tag once as a cost allocation tag in the Billing console, or the budget sees nothing.
"""

from __future__ import annotations

from aws_cdk import Annotations
from aws_cdk import aws_budgets as budgets
from constructs import Construct
from workshop_hub import costs
from workshop_hub.config import WorkshopConfig

THRESHOLDS = (80, 100)
MIN_USD = 1.0


def budget_amount(config: WorkshopConfig) -> tuple[float, str] | None:
    """(USD, where it comes from), or None when nothing can say."""
    if config.alerts and config.alerts.budget_usd is not None:
        return config.alerts.budget_usd, "alerts.budget_usd"
    if config.plan and config.plan.monthly_usd is not None:
        return max(MIN_USD, config.plan.monthly_usd), f"hubctl plan of {config.plan.planned_at}"
    if config.hub.region in costs.TABLE:
        estimate = costs.monthly_estimate(config, costs.from_table(config.hub.region))
        if estimate is not None:
            return max(MIN_USD, estimate), f"the schedule priced from the table of {costs.TABLE_DATE}"
    return None


class HubBudget(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: WorkshopConfig, tag_key: str) -> None:
        super().__init__(scope, construct_id)
        self.budget: budgets.CfnBudget | None = None
        if config.alerts is None:
            return
        amount = budget_amount(config)
        if amount is None:
            Annotations.of(self).add_warning_v2(
                "workshop-hub:no-budget",
                f"no budget: no price for the hub's types in {config.hub.region}; set alerts.budget_usd",
            )
            return
        usd, source = amount
        self.source = source
        self.budget = budgets.CfnBudget(
            self,
            "Budget",
            budget=budgets.CfnBudget.BudgetDataProperty(
                budget_name=f"workshop-hub-{config.hub.name}",
                budget_type="COST",
                time_unit="MONTHLY",
                budget_limit=budgets.CfnBudget.SpendProperty(amount=round(usd, 2), unit="USD"),
                cost_filters={"TagKeyValue": [f"user:{tag_key}${config.hub.name}"]},
            ),
            notifications_with_subscribers=[
                budgets.CfnBudget.NotificationWithSubscribersProperty(
                    notification=budgets.CfnBudget.NotificationProperty(
                        comparison_operator="GREATER_THAN",
                        notification_type="ACTUAL",
                        threshold=threshold,
                        threshold_type="PERCENTAGE",
                    ),
                    # Budgets mails the address itself: no topic, so no topic policy to let it publish.
                    subscribers=[
                        budgets.CfnBudget.SubscriberProperty(
                            address=config.alerts.email, subscription_type="EMAIL"
                        )
                    ],
                )
                for threshold in THRESHOLDS
            ],
        )
