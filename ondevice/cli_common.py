"""What every command module shares: error handling, status lines, JSON or text output."""

from __future__ import annotations

import functools
import json

import click

from ondevice.errors import ConfigError, OndeviceError


def handle_errors(fn):
    """Turn library exceptions into one clear line and a non-zero exit; no tracebacks for bad input."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ConfigError as e:
            raise click.UsageError(str(e)) from None
        except OndeviceError as e:
            raise click.ClickException(str(e)) from None
        except KeyboardInterrupt:
            raise click.Abort() from None
        except MemoryError:
            raise click.ClickException("out of memory") from None

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
