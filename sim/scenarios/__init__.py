"""Built-in scenario files of the simulated city (package data: *.yaml)."""
