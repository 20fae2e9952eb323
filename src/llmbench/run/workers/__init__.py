"""Multi-process load generation (`--workers N`): the load split over spawned worker processes,
each with its own event loop and connection pool, records streamed back to the parent.
"""
