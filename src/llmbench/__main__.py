"""`python -m llmbench` runs the command-line interface."""

from llmbench.cli.main import main

main()
