"""When to send: load profiles and the executor that drives a `Client`."""
