"""What to send: seeded workloads that produce identical request bytes for every target."""
