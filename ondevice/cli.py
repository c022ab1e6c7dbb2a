"""The `ondevice` command line: the group and its commands, one module each under ondevice/commands/.

Library errors become one-line messages and exit codes in the commands only (ondevice.cli_common).
"""

from __future__ import annotations

import click

from ondevice import __version__
from ondevice.commands.compress import compress, significance
from ondevice.commands.devices import devices
from ondevice.commands.evaluate import eval_cmd
from ondevice.commands.export import export, inspect
from ondevice.commands.finetune import finetune
from ondevice.commands.profile import profile
from ondevice.commands.report import report
from ondevice.commands.run import run
from ondevice.commands.search import search
from ondevice.commands.setup import setup


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ondevice")
def cli() -> None:
    """Put transformer text classifiers on phones: fine-tune, compress, export, verify, profile."""


for command in (
    eval_cmd,
    finetune,
    export,
    inspect,
    run,
    setup,
    compress,
    significance,
    profile,
    report,
    devices,
    search,
):
    cli.add_command(command)


def main() -> None:
    from ondevice.output import install_signal_handlers

    install_signal_handlers()
    cli()


if __name__ == "__main__":
    main()
