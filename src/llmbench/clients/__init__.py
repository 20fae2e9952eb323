"""Protocol clients: how a request is sent to a target and what the client saw of the answer.

Each client implements the engine's `Client` protocol structurally; aiohttp is used only here.
"""

from llmbench.clients.openai import OpenAIClient, list_models
from llmbench.clients.sse import SSEDecoder, SSEEvent

__all__ = ["OpenAIClient", "SSEDecoder", "SSEEvent", "list_models"]
