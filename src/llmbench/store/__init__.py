"""Results on disk: a run directory with run.json and records.jsonl (versioned schema)."""
