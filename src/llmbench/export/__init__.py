"""Exports of results directories: runs, requests and tasks as tables (CSV, JSON Lines,
Parquet), and requests and agent tasks as OpenTelemetry GenAI spans in OTLP JSON
(docs/exports.md). Everything is streamed: records are read, converted and written in batches.
"""
