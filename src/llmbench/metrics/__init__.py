"""Metrics: per-request derived metrics, distribution summaries with CIs and outlier flags,
and the run summary. Pure functions of stored records; formulas in docs/metrics.md.
"""

from llmbench.metrics.stats import describe, three_sigma_view
from llmbench.metrics.summary import summarize_run, three_sigma

__all__ = ["describe", "summarize_run", "three_sigma", "three_sigma_view"]
