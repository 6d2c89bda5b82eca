"""Root conftest: the IAM contract plugin watches every test run (tests/support/iam_contract.py)."""

pytest_plugins = ["tests.support.iam_contract"]
