"""Prefect tasks: the run's steps (``crmsync.sync.steps``) as named tasks over chunks.

``STEPS`` is the table the flows hand to the run path. Every argument goes to a task
``quote``d: Prefect would otherwise walk every element of a chunk or frame (10,000 links are
~500,000 visits) to track task dependencies.
"""

from __future__ import annotations

from tasks.steps import PREVIEW_STEPS, STEPS

__all__ = ["PREVIEW_STEPS", "STEPS"]
