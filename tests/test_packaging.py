"""The distribution's layout: the console script and the packages it promises."""

import importlib
import importlib.metadata as md


def test_console_script_points_at_the_cli() -> None:
    eps = {ep.name: ep.value for ep in md.entry_points(group="console_scripts") if ep.dist and ep.dist.name == "edgeorch"}
    assert eps.get("edgeorch") == "devstack.cli:main"


def test_operator_folder_is_not_a_package_shadowing_the_stdlib() -> None:
    import operator

    assert hasattr(operator, "itemgetter"), "the stdlib operator module must not be shadowed"
    for name in ("orchestrator", "placement", "sla_contracts", "sim"):
        assert importlib.import_module(name).__doc__, f"{name} needs a package docstring"
