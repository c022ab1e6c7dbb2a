"""What every command module shares: error handling, status lines, JSON or text output, option types."""

from __future__ import annotations

import functools
import json
import sys

import click

from ondevice.errors import ConfigError, OndeviceError
from ondevice.output import Terminated, check_stopped, describe


def handle_errors(fn):
    """Turn library exceptions into one clear line and a non-zero exit; no tracebacks for bad input."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            result = fn(*args, **kwargs)
            check_stopped()  # a signal whose exception a library swallowed still ends the command
            return result
        except ConfigError as e:
            raise click.UsageError(str(e)) from None
        except OndeviceError as e:
            raise click.ClickException(str(e)) from None
        except (KeyboardInterrupt, Terminated) as e:
            # Staged outputs were removed on the way here (ondevice.output); the exit code is the
            # shell's for a process ended by that signal.
            name, signum = (e.name, e.signum) if isinstance(e, Terminated) else ("Ctrl-C (SIGINT)", 2)
            error = click.ClickException(f"stopped by {name}; nothing was left half-written")
            error.exit_code = 128 + signum
            raise error from None
        except MemoryError:
            raise click.ClickException("out of memory") from None
        except OSError as e:  # the last net under file access that a library call did not name itself
            where = f"{e.filename}: " if e.filename else ""
            raise click.ClickException(f"{where}{describe(e)}") from None

    return wrapper


class SeqLens(click.ParamType):
    """Sequence lengths as a comma-separated list ("32,64,128"); blank entries are skipped."""

    name = "text"  # the metavar help shows: TEXT, as for any other comma-separated option

    def convert(self, value, param, ctx) -> list[int]:
        if isinstance(value, list):  # Click may hand a converted value back; convert must accept it
            return value
        try:
            return [int(n) for n in value.split(",") if n.strip()]
        except ValueError:
            # Named without quotes ("--seq-len"), as the message has always read.
            hint = " / ".join(param.opts) if param is not None else None
            raise click.BadParameter(
                f"{value!r} is not a comma-separated list of integers", ctx, param, param_hint=hint
            ) from None


def command_line() -> str:
    """The command as typed, for the record a checkpoint keeps of how it was made."""
    return " ".join(["ondevice", *sys.argv[1:]])


def status(message: str) -> None:
    click.echo(message, err=True)


def emit(data: dict, as_json: bool, text: str) -> None:
    click.echo(json.dumps(data, indent=2) if as_json else text)


def quiet_libraries() -> None:
    # Third-party import-time chatter (transformers, torchao) would bury our one-line messages.
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    logging.getLogger("torch").setLevel(logging.ERROR)


def column_options(fn):
    """``--text-columns`` and ``--label-column`` for a command that reads TSV or CSV data: handed to it as
    one ``columns`` argument (``ondevice.data.Columns``, or None for the default layout)."""

    @click.option(
        "--text-columns",
        default=None,
        help="TSV/CSV: the column(s) holding the text, counted from 1; two for sentence pairs "
        "(default: 2, the layout label TAB text; 2,3 for label TAB text TAB text_pair).",
    )
    @click.option(
        "--label-column",
        type=int,
        default=None,
        help="TSV/CSV: the column holding the label, counted from 1 (default 1).",
    )
    @functools.wraps(fn)
    def wrapper(*args, text_columns, label_column, **kwargs):
        from ondevice.data import parse_columns

        try:
            columns = parse_columns(text_columns, label_column)
        except OndeviceError as e:
            raise click.UsageError(str(e)) from None
        return fn(*args, columns=columns, **kwargs)

    return wrapper
