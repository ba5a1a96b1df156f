"""The `bridge` command. One module per command group; each adds its commands to the parser.

Exit codes: 0 success; 1 the command ran and failed (a broken config, a non-2xx answer, a store
that cannot be opened); 2 the command line itself is wrong (argparse's usage errors).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from bridge import __version__, redaction
from bridge.cli import config_commands, rule_tests, server_commands, signing_commands
from bridge.cli.common import CliError, undecodable

EPILOG = """\
exit codes: 0 success, 1 the command failed, 2 bad command line.
settings come from BRIDGE_* environment variables; see README.md."""

# Groups owned by other packages, registered when they are installed.
OPTIONAL_GROUPS = ("bridge.cli.delivery_commands",)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bridge",
        description="Receive Kontent.ai webhooks, match YAML rules, deliver actions reliably.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    subparsers.required = True
    for group in (server_commands, config_commands, rule_tests, signing_commands):
        group.register(subparsers)
    for name in OPTIONAL_GROUPS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register(subparsers)
    return parser


# Arguments that name files: any bytes the operating system takes are a name (Python keeps the
# ones that are not UTF-8 as surrogate escapes, and open() gives them back). Every other argument
# is text that is compared, stored, sent or hashed as UTF-8.
FILE_ARGUMENTS = frozenset({"cases", "config", "db", "payload"})


def not_text(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Exit 2 (argparse's usage error, from the command's own parser) at the first argument that
    is not UTF-8 text: a byte such as 0xff in `--action`, `--request-id` or `--secret` reached the
    store's query or the HMAC as a surrogate escape, and each raised UnicodeEncodeError."""
    for name, value in vars(args).items():
        if name in FILE_ARGUMENTS:
            continue
        for text in value if isinstance(value, list) else [value]:
            if isinstance(text, str) and (problem := undecodable(text)) is not None:
                command, label = _argument(parser, args, name)
                command.error(f"argument {label}: {problem}")


def _argument(
    parser: argparse.ArgumentParser, args: argparse.Namespace, dest: str
) -> tuple[argparse.ArgumentParser, str]:
    """The parser of the command that was run, and the name its errors give argument `dest`."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            chosen = action.choices.get(getattr(args, action.dest, None) or "")
            if chosen is not None:
                return _argument(chosen, args, dest)
    for action in parser._actions:
        if action.dest == dest:
            metavar = action.metavar if isinstance(action.metavar, str) else dest
            return parser, "/".join(action.option_strings) or metavar
    return parser, dest


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    not_text(parser, args)
    try:
        code: int = args.func(args)
    except CliError as exc:
        # An error may quote what it could not use (a config option, a database URL): hidden
        # as every output is (bridge.redaction), also before any config has taught its secrets.
        print(f"error: {redaction.redact(str(exc))}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `bridge explain --json | head`: the reader has all it wanted. Point stdout at devnull so
        # the interpreter's final flush does not raise (and print) the same error again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    return code
