# The two commands of the README.
#   make run   - all set-up, then the main job
#   make test  - all set-up, then the whole test suite
.PHONY: setup run test lint bench clean

setup:
	bash scripts/setup.sh

run: setup
	.venv/bin/edgeorch demo

test: setup
	.venv/bin/ruff check .
	.venv/bin/mypy orchestrator placement sla_contracts sim devstack bench
	.venv/bin/lint-imports
	.venv/bin/python -m pytest

bench: setup
	.venv/bin/python -m bench.placement --quick
	.venv/bin/python -m bench.ledger
	.venv/bin/python -m bench.operator --quick
	.venv/bin/python -m bench.qos --quick
	.venv/bin/python -m bench.elasticity --quick
	.venv/bin/python -m bench.rollout --quick
	.venv/bin/python -m bench.mobility --quick
	.venv/bin/python -m bench.takeover --quick
	.venv/bin/python -m bench.chaos --rounds 1
	.venv/bin/python -m bench.report

clean:
	-.venv/bin/edgeorch cluster down
	rm -rf .venv .tools .edgeorch
