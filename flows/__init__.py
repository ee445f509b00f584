"""Prefect flows and deployments: wiring of the stages, no business logic."""
