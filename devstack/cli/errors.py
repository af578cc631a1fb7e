"""How the `edgeorch` command fails: one line on stderr that says what is wrong and how to fix it, exit
code 2, never a Python traceback (unless `edgeorch --debug`, or
EDGEORCH_DEBUG=1, asks for it).

`EdgeorchGroup` is the top-level click group; it turns any exception a command lets out into that
line.  Errors a user can fix (a missing stack, an unreachable component, a refused fault, a bad
scenario) get a fix that names the command to run; anything else says to rerun with --debug.
"""

from __future__ import annotations

import sys
import urllib.error
from typing import Any, NoReturn

import click

STATUS_HINT = "is the stack up? `edgeorch cluster status` shows each component"
DEBUG_HINT = "rerun with `edgeorch --debug ...` for the traceback"


class UserError(click.ClickException):
    """A mistake the user can fix; `fix` says how (printed after the message on the same line)."""

    exit_code = 2

    def __init__(self, message: str, fix: str = "") -> None:
        super().__init__(message)
        self.fix = fix

    def format_message(self) -> str:
        return one_line(self.message) + (f" ({self.fix})" if self.fix else "")

    def show(self, file: Any = None) -> None:
        click.echo(f"edgeorch: error: {self.format_message()}", err=True)


def one_line(text: str) -> str:
    """`text` folded onto one line (the first line of a multi-line message carries the point)."""
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return lines[0] if lines else ""


def describe(exc: BaseException) -> tuple[str, str]:
    """(message, fix) for an exception a command let out."""
    from devstack.localstack.procs import ComponentDied
    from devstack.localstack.tools import MissingTool
    from orchestrator.kube.errors import KubeError
    from sim.control import ControlError
    from sim.scenario import ScenarioError

    if isinstance(exc, MissingTool):
        return str(exc), ""  # the message already names what to install
    if isinstance(exc, ComponentDied):
        return str(exc), "`edgeorch cluster status` shows its log"
    if isinstance(exc, ControlError):
        fix = "`edgeorch sim faults` lists the active faults" if exc.status == 404 else \
            "`kubectl get edgesites,nodes` lists the city's sites and nodes"
        return f"the simulator refused: {exc.message}", fix
    if isinstance(exc, ScenarioError):
        return str(exc), ""  # it names the built-in scenarios
    if isinstance(exc, KubeError):
        return f"Kubernetes API: {exc}", STATUS_HINT
    if isinstance(exc, urllib.error.HTTPError):
        return f"{exc.url} answered {exc.code} {exc.reason}", STATUS_HINT
    if isinstance(exc, urllib.error.URLError | ConnectionError | TimeoutError):
        reason = getattr(exc, "reason", exc)
        return f"cannot connect: {reason}", STATUS_HINT
    ledger_error = _ledger_error()
    if ledger_error is not None and isinstance(exc, ledger_error):
        return str(exc), "`edgeorch cluster status` shows whether anvil runs"
    if isinstance(exc, FileNotFoundError | PermissionError | IsADirectoryError):
        return f"{exc.filename}: {exc.strerror}", ""
    return f"{type(exc).__name__}: {exc}", DEBUG_HINT


def _ledger_error() -> type[Exception] | None:
    if "sla_contracts.errors" not in sys.modules:  # only commands that used the ledger can raise its errors
        return None
    from sla_contracts.errors import LedgerError

    return LedgerError


def debugging(ctx: click.Context | None) -> bool:
    root = ctx.find_root() if ctx is not None else None
    return bool(root is not None and root.params.get("debug"))


def fail(exc: BaseException) -> NoReturn:
    """Print the one line for `exc` and exit 2."""
    message, fix = describe(exc)
    raise UserError(message, fix) from exc


class EdgeorchGroup(click.Group):
    """The top-level group: every exception of a sub-command becomes one line (see the module docstring),
    and so does a usage mistake (a missing option, a bad value), with the --help to read."""

    def main(self, args: Any = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            return super().main(args, prog_name, complete_var, False, **extra)
        except click.UsageError as exc:
            where = exc.ctx.command_path if exc.ctx is not None else "edgeorch"
            click.echo(f"edgeorch: error: {one_line(exc.format_message())} (see `{where} --help`)", err=True)
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(1)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit, KeyboardInterrupt):
            raise
        except Exception as exc:
            if debugging(ctx):
                raise
            fail(exc)


__all__ = ["EdgeorchGroup", "UserError", "debugging", "describe", "fail", "one_line"]
