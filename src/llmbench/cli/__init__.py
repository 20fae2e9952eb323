"""The command line: the only layer that reads the environment, prints, and exits."""
