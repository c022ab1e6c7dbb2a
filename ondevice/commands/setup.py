"""`ondevice setup`: the Debian packages behind profiling, ARM emulation and the Java tests."""

from __future__ import annotations

import click

from ondevice.cli_common import emit, handle_errors, status


@click.command()
@click.option("--check", "check_only", is_flag=True, help="Only report; install nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@handle_errors
def setup(check_only: bool, as_json: bool) -> None:
    """Install the Debian packages that profiling, ARM emulation and the Java tests need.

    Needs root and apt-get; otherwise it prints the command to run. Python packages come with
    `pip install`; this covers adb, qemu-user-static, the aarch64 cross compiler, a JDK and JUnit.

    \b
    Example:
        ondevice setup --check
    """
    from ondevice import system

    missing = system.missing_packages()
    if missing and not check_only:
        status(f"installing {' '.join(missing)}")
        system.install(missing)
    tools = system.check()
    lines = [f"{'ok' if t['found'] else 'MISSING':<8} {t['name']:<22} {t['package']:<24} {t['purpose']}" for t in tools]
    emit({"tools": tools}, as_json, "\n".join(lines))
    if check_only and missing:
        raise SystemExit(1)
