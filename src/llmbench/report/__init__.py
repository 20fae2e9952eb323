"""Rendering of stored results: terminal tables now; Markdown and HTML later."""
