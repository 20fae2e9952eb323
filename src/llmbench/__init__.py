"""llmbench: measure and compare the response latency of LLM endpoints and AI agents.

The package is layered as DESIGN.md describes; `import llmbench` stays cheap on purpose.
"""

__version__ = "0.1.0"
