"""The sync engine's decisions, as plain functions over DataFrames: testable without Prefect."""
