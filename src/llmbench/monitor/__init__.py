"""What the run ran on: environment capture (and, later, resource monitors)."""
