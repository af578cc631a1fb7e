"""`python -m devstack.cli` is the `edgeorch` command (for a checkout without the entry point installed)."""

from devstack.cli import main

main(prog_name="edgeorch")
