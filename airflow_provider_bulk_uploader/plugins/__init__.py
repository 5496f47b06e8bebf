"""Airflow plugins of the provider: the "Bulk fetch budgets" page (:mod:`.budgets`), registered through the
``airflow.plugins`` entry point (pyproject.toml)."""
