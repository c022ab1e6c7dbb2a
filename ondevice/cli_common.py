"""What every command module shares: error handling, status lines, JSON or text output."""

from __future__ import annotations

import functools
import json

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
