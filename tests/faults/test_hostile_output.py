"""Fault class "output": outputs that cannot be written (read-only file systems and directories, a full
disk, no inodes left, a file where a directory belongs, a name too long), for every command that
writes. Each is refused in one line, before the work where the size is known, and leaves nothing.

The file systems are real: small tmpfs mounts made by the test (root only; skipped with the reason
otherwise), and a read-only directory for a user without CAP_DAC_OVERRIDE (`nobody`, through setuid
in the child).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import pytest
from harness import CLI, SST2_SAMPLE, Case, check, compress_argv, export_argv, finetune_argv, run_cli

RECORD = next(Path(__file__).resolve().parents[2].glob("profiles/results/host/*.json"), None)


def _mount(where: Path, options: str) -> None:
    where.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({r.stderr.strip() or 'not root'}): the full-disk cases need one")


@pytest.fixture
def mounts(workspace):
    """Mount points inside the workspace: ro/ (read-only), small/ (5 MB), inodes/ (4 inodes)."""
    made = []

    def mount(name: str, options: str) -> Path:
        where = workspace / name
        _mount(where, options)
        made.append(where)
        return where

    mount("ro", "ro,size=1m")
    mount("small", "size=5m")
    mount("inodes", "size=50m,nr_inodes=4")
    yield workspace
    for where in reversed(made):
        subprocess.run(["umount", str(where)], capture_output=True)


def with_file(name: str, argv: list[str]):
    """Make a plain file ``name`` in the workspace first (where a directory is expected)."""

    def make(ws: Path) -> list[str]:
        (ws / name).write_text("not a directory\n")
        return argv

    return make


LONG = "x" * 300
QUICK = ("--max-minutes", "0.05")  # compress: its distillation, were it to start
CASES = [
    Case("output", "export onto a read-only file system", export_argv("ro/out"), "read-only file system"),
    Case("output", "export onto a full disk (5 MB tmpfs)", export_argv("small/out"), "MB free"),
    Case("output", "export runs out of inodes while writing", export_argv("inodes/out"), "no space left"),
    Case(
        "output",
        "export --copy-to a read-only file system",
        export_argv("out", "--copy-to", "ro/assets"),
        "read-only file system",
    ),
    Case("output", "export --out under a file", with_file("f", export_argv("f/out")), "not a directory"),
    Case("output", "export --out is a file", with_file("f", export_argv("f")), "not a directory"),
    Case("output", "export --out name too long", export_argv(LONG), "too long"),
    Case("output", "finetune onto a read-only file system", finetune_argv("ro/ckpt"), "read-only file system"),
    Case("output", "finetune onto a full disk (5 MB tmpfs)", finetune_argv("small/ckpt"), "MB free"),
    Case("output", "finetune --out under a file", with_file("f", finetune_argv("f/ckpt")), "not a directory"),
    Case(
        "output",
        "compress onto a read-only file system",
        compress_argv("ro/ckpt", *QUICK),
        "read-only file system",
    ),
    Case(
        "output",
        "compress onto a full disk (5 MB tmpfs)",
        compress_argv("small/ckpt", *QUICK),
        "MB free",
    ),
]
if RECORD is not None:
    CASES += [
        Case(
            "output",
            "report --out on a read-only file system",
            ["report", str(RECORD), "--out", "ro/r.md"],
            "read-only file system",
        ),
        Case(
            "output",
            "report --plot on a read-only file system",
            ["report", str(RECORD), "--plot", "ro/r.png"],
            "read-only file system",
        ),
    ]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_output_fault(case, mounts, tiny_bert_dir):
    (mounts.parent / "model").symlink_to(tiny_bert_dir)  # the commands read the tiny model at ../model
    result = check(case, mounts)
    # finetune and compress check their output before the work, not after it
    assert "fine-tuning" not in result.stderr and "compressing" not in result.stderr


def test_profile_out_on_a_read_only_file_system(mounts, tiny_bundle):
    """profile refuses an unwritable --out before it measures anything."""
    case = Case(
        "output",
        "profile --out on a read-only file system",
        ["profile", str(tiny_bundle / "model.fp32.onnx"), "--target", "host", "--runs", "1", "--out", "ro/results"],
        "read-only file system",
    )
    result = check(case, mounts)
    assert "profiling" not in result.stderr


def _nobody_can_run_ondevice(home: Path) -> str | None:
    """Why the `nobody` user cannot run the command here, or None when it can."""
    if os.geteuid() != 0:
        return "the tests do not run as root, so they cannot switch to another user"
    probe = subprocess.run(
        [*NOBODY, str(CLI), "--version"],
        capture_output=True,
        text=True,
        env={**os.environ, "HOME": str(home)},
    )
    if probe.returncode != 0:
        return f"the user nobody cannot run ondevice from this checkout: {probe.stderr.strip()[-200:]}"
    return None


NOBODY = ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups")


@pytest.mark.parametrize("command", ["export", "finetune"])
def test_read_only_directory_for_a_user_without_dac_override(command, tiny_bert_dir):
    """A directory the user may not write into (root ignores permissions, so the command runs as nobody)."""
    base = Path(tempfile.mkdtemp(prefix="ondevice-nobody-", dir="/tmp"))
    try:
        os.chmod(base, 0o755)
        home = base / "home"
        home.mkdir()
        os.chown(home, 65534, 65534)
        why = _nobody_can_run_ondevice(home)
        if why:
            pytest.skip(why)
        model = Path(shutil.copytree(tiny_bert_dir, base / "model"))
        for p in [model, *model.iterdir()]:
            os.chmod(p, 0o755 if p.is_dir() else 0o644)
        shutil.copyfile(SST2_SAMPLE, base / "data.tsv")
        os.chmod(base / "data.tsv", 0o644)
        ro = base / "ro"
        ro.mkdir(mode=0o555)
        os.chmod(ro, 0o555)
        env = {"HOME": str(home), "XDG_CACHE_HOME": str(home / "cache"), "HF_HOME": str(home / "hf")}
        common = (
            ["--seq-len", "16"]
            if command == "export"
            else ["--max-length", "16", "--epochs", "1", "--labels", "neg,neu,pos"]
        )
        if command == "export":
            argv = [
                "export",
                str(model),
                "--target",
                "host",
                "--format",
                "onnx",
                "--quantize",
                "fp32",
                "--data",
                str(base / "data.tsv"),
                "--out",
                str(ro / "out"),
                *common,
            ]
        else:
            argv = [
                "finetune",
                str(model),
                "--train",
                str(base / "data.tsv"),
                "--dev",
                str(base / "data.tsv"),
                "--out",
                str(ro / "out"),
                *common,
            ]
        before = sorted(p.name for p in ro.iterdir())
        r = run_cli(argv, base, env=env, prefix=NOBODY)
        out = r.stdout + r.stderr
        assert r.exit == 1, out
        assert "Traceback" not in out
        assert len(r.error_lines) == 1 and "permission denied" in r.error_lines[0], out
        assert "fine-tuning" not in r.stderr
        assert sorted(p.name for p in ro.iterdir()) == before
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_a_killed_runs_staged_output_is_removed_by_the_next_run(workspace, tiny_bert_dir):
    """SIGKILL leaves a staged directory behind (nothing can run then); its owner's PID is in its name,
    and the next run writing beside it removes it once that process is gone."""
    (workspace.parent / "model").symlink_to(tiny_bert_dir)

    def staged() -> list[Path]:
        return [p for p in workspace.iterdir() if ".ondevice-tmp-" in p.name]

    killed = run_cli(
        export_argv("out"), workspace, signal_after=(0.0, signal.SIGKILL), signal_when=lambda: bool(staged())
    )
    assert killed.exit == -signal.SIGKILL
    left = staged()
    assert left and not (workspace / "out").exists()
    alive = workspace / f".other.ondevice-tmp-{os.getpid()}-ijkl"  # a live process's: left alone
    alive.mkdir()
    r = run_cli(export_argv("out"), workspace)
    assert r.exit == 0, r.stderr
    assert sorted(p.name for p in workspace.iterdir()) == sorted(["out", alive.name])
