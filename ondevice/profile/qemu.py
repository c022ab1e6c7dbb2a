"""``--target linux-arm64-qemu``: an emulated ARM64 Linux CPU (qemu-aarch64-static in user mode).

Set up once and cached in ``$XDG_CACHE_HOME/ondevice/arm64/``: an arm64 Python 3.11 sysroot unpacked
from Debian packages (``apt-get download`` + ``dpkg -x``; the arm64 architecture is added to dpkg
first, which needs root), the aarch64 wheels of NumPy, ONNX Runtime and ai-edge-litert, an ARM
``/proc/cpuinfo`` (ONNX Runtime and LiteRT read the CPU's features through the cpuinfo library, which
crashes on the host's x86 text; qemu's ``-L`` redirects the read), and the aarch64 native runner.

Everything runs as ``qemu-aarch64-static -cpu neoverse-n1 -L SYSROOT ...``. Emulated time is 70-250x the host's and the
ratio moves with the kernels used, so these records are flagged ``emulated`` and serve as checks that
the ARM64 builds compute the host's logits, never as a phone's speed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from ondevice.converters.formats import FORMATS
from ondevice.errors import ProfileError
from ondevice.output import staged_dir
from ondevice.profile import native
from ondevice.profile.host import run_process
from ondevice.profile.runners import PYRUNNER, Job, runtime_section
from ondevice.profile.targets import Target

QEMU = "qemu-aarch64-static"
# The CPU qemu emulates, matching the cpuinfo text below. qemu's default ("max") also offers newer
# extensions that XNNPACK's int8 kernels then use, and under QEMU 7.2 those gave int8 logits 0.3-1.0
# away from the host's (fp32 matched); as a Neoverse-N1 the int8 ExecuTorch and LiteRT outputs match.
QEMU_CPU = "neoverse-n1"
LAYOUT_VERSION = 1  # bump when the sysroot's contents change
# python3.11 for arm64 and the libraries it and the wheels load (Debian 12 names).
DEBIAN_PACKAGES = (
    "python3.11-minimal", "libpython3.11-minimal", "libpython3.11-stdlib", "libc6", "libgcc-s1", "libstdc++6",
    "gcc-12-base", "zlib1g", "libffi8", "libssl3", "libexpat1", "libbz2-1.0", "liblzma5", "libsqlite3-0",
    "libuuid1", "libncursesw6", "libtinfo6", "libreadline8", "libcrypt1", "libnsl2", "libtirpc3", "libdb5.3",
    "libgssapi-krb5-2", "libkrb5-3", "libk5crypto3", "libkrb5support0", "libcom-err2",
    "libkeyutils1",
)  # fmt: skip
ARCH_ALL_PACKAGES = ("media-types",)  # no :arm64 variant
# .pte files run on the native runner here: ExecuTorch's Python runtime needs torch.
WHEELS = ("numpy", FORMATS["onnx"].runtime_package, FORMATS["tflite"].runtime_package)
WHEEL_PLATFORMS = (
    "manylinux_2_28_aarch64",
    "manylinux_2_27_aarch64",
    "manylinux_2_17_aarch64",
    "manylinux2014_aarch64",
)
# A Neoverse-N1 core as Linux describes it: what the cpuinfo library needs to pick ARM64 kernels.
CPUINFO_CORE = """processor\t: {n}
BogoMIPS\t: 50.00
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp ssbs
CPU implementer\t: 0x41
CPU architecture: 8
CPU variant\t: 0x3
CPU part\t: 0xd0c
CPU revision\t: 1
"""
EMULATED_CPU = "Arm Neoverse-N1 (emulated by qemu-aarch64-static)"


def sysroot_dir() -> Path:
    return native.cache_root() / "arm64" / f"sysroot-v{LAYOUT_VERSION}"


def qemu_binary() -> str:
    path = shutil.which(QEMU)
    if path is None:
        raise ProfileError(
            f"{QEMU} is not installed; install the Debian package qemu-user-static (or `ondevice setup`)"
        )
    return path


def _run(cmd: list[str], what: str, cwd: Path | None = None) -> str:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd)
    except FileNotFoundError:
        raise ProfileError(
            f"{what}: {cmd[0]} is not installed (the arm64 sysroot needs Debian's dpkg and apt)"
        ) from None
    if proc.returncode != 0:
        last = (proc.stderr.strip() or proc.stdout.strip() or "no output").splitlines()[-1]
        raise ProfileError(f"{what} failed: {last}")
    return proc.stdout


def _ensure_arm64_apt() -> None:
    if "arm64" in _run(["dpkg", "--print-foreign-architectures"], "dpkg").split():
        return
    if os.geteuid() != 0:
        raise ProfileError(
            "the arm64 sysroot needs dpkg's arm64 architecture; run as root once: "
            "dpkg --add-architecture arm64 && apt-get update"
        )
    _run(["dpkg", "--add-architecture", "arm64"], "dpkg --add-architecture arm64")
    _run(["apt-get", "update", "-q"], "apt-get update")


def _download_debs(dest: Path) -> None:
    names = [f"{p}:arm64" for p in DEBIAN_PACKAGES] + list(ARCH_ALL_PACKAGES)
    try:
        _run(["apt-get", "download", "-q", *names], "apt-get download", cwd=dest)
    except ProfileError:
        # The arm64 lists may be older than the architecture entry: refresh once and retry.
        if os.geteuid() == 0:
            _run(["apt-get", "update", "-q"], "apt-get update")
        _run(["apt-get", "download", "-q", *names], "apt-get download", cwd=dest)


def _unpack(debs: Path, root: Path) -> None:
    for deb in sorted(debs.glob("*.deb")):
        _run(["dpkg", "-x", str(deb), str(root)], f"dpkg -x {deb.name}")


def _install_wheels(site: Path) -> None:
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--no-compile", "--target", str(site)]
    cmd += ["--only-binary=:all:", "--python-version", "3.11", "--implementation", "cp"]
    for p in WHEEL_PLATFORMS:
        cmd += ["--platform", p]
    _run([*cmd, *WHEELS], "installing the aarch64 wheels (pip)")


def cpuinfo_text(cores: int) -> str:
    return "\n".join(CPUINFO_CORE.format(n=n) for n in range(cores))


def setup(progress=None) -> Path:
    """The arm64 sysroot, built on first use. Returns its path."""
    root = sysroot_dir()
    if (root / ".ondevice-ready").is_file():
        return root
    qemu_binary()
    if shutil.which("dpkg") is None or shutil.which("apt-get") is None:
        raise ProfileError("the arm64 sysroot is made from Debian packages; dpkg and apt-get are not on this machine")
    root.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root.parent) as debs, staged_dir(root) as stage:
        debs = Path(debs)
        steps = [
            ("dpkg arm64", _ensure_arm64_apt),
            ("arm64 packages", lambda: _download_debs(debs)),
            ("unpacking", lambda: _unpack(debs, stage)),
            ("aarch64 wheels", lambda: _install_wheels(stage / "opt" / "ondevice" / "site-packages")),
        ]  # fmt: skip
        for name, step in steps:
            if progress:
                progress(f"setting up the arm64 sysroot: {name}")
            step()
        cores = os.cpu_count() or 1
        (stage / "proc").mkdir()
        (stage / "proc" / "cpuinfo").write_text(cpuinfo_text(cores))
        cpu = stage / "sys" / "devices" / "system" / "cpu"
        cpu.mkdir(parents=True)
        for name in ("possible", "present", "online"):
            (cpu / name).write_text(f"0-{cores - 1}\n" if cores > 1 else "0\n")
        if not (stage / "usr" / "bin" / "python3.11").is_file():
            raise ProfileError("the arm64 packages did not provide usr/bin/python3.11")
        (stage / ".ondevice-ready").write_text(f"{LAYOUT_VERSION}\n")
    return root


class QemuBackend:
    """Runs jobs under qemu-aarch64-static in the cached arm64 sysroot."""

    def __init__(self, target: Target, status=None):
        self.target = target
        self.status = status
        self.root: Path | None = None
        self.runner_binary: Path | None = None

    def prepare(self, jobs: list[Job]) -> None:
        self.qemu = qemu_binary()
        if any(j.runner == "python" for j in jobs) or self.root is None:
            self.root = setup(self.status)
        if any(j.runner == "native" for j in jobs):
            if self.status:
                self.status("building the aarch64 ExecuTorch runner (once)")
            self.runner_binary = native.build("aarch64")

    def device(self) -> dict:
        from ondevice.profile.host import cpu_facts

        host = cpu_facts()
        version = _run([self.qemu, "--version"], QEMU).splitlines()[0].strip()
        return {
            "model": version,
            "soc": EMULATED_CPU,
            "abi": "arm64-v8a",
            "os": "Debian 12 arm64 userland (sysroot) on the host kernel",
            "kernel": host["kernel"],
            "cores": host["cores"],
            "max_freq_khz": None,
            "governor": None,
            "host_cpu": host["soc"],
            "qemu_cpu": QEMU_CPU,
        }

    def sensors(self) -> dict:
        from ondevice.profile.host import sensors

        return sensors()

    def command(self, job: Job) -> tuple[list[str], dict]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        if job.runner == "native":
            if job.format != "executorch":
                raise ProfileError(f"the native runner runs .pte files only, not {job.path.name}")
            return [self.qemu, "-cpu", QEMU_CPU, "-L", str(self.root), str(self.runner_binary), *job.args()], env
        if job.runner != "python":
            raise ProfileError(f"runner {job.runner!r} does not run on {self.target.name}")
        if job.format == "executorch":
            raise ProfileError(
                "ExecuTorch's Python bindings need torch, which has no usable aarch64 build; "
                "the emulated target runs .pte files with the native runner"
            )
        env["PYTHONPATH"] = str(self.root / "opt" / "ondevice" / "site-packages")
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        python = self.root / "usr" / "bin" / "python3.11"
        return [self.qemu, "-cpu", QEMU_CPU, "-L", str(self.root), str(python), str(PYRUNNER), *job.args()], env

    def run(self, job: Job) -> dict:
        cmd, env = self.command(job)
        return run_process(cmd, f"{job.runner} runner on {job.path.name} (emulated arm64)", env=env)

    def runtime(self, job: Job, result: dict) -> dict:
        return runtime_section(job, result)

    def close(self) -> None:
        pass
