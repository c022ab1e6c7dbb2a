"""Build and locate the native ExecuTorch runner (``cpp/runner.cpp``) for x86-64 and aarch64 Linux.

The runner is compiled against the headers and the torch-free libraries that the ``executorch``
wheels ship: the installed wheel for the host's architecture, and the aarch64 wheel of the same
version (fetched once with ``pip download``) for ARM64. The build goes to
``$XDG_CACHE_HOME/ondevice/native/<arch>-<executorch version>-<source hash>/``: the binary
``ondevice-et-runner`` and the .so files it needs beside it (rpath ``$ORIGIN``), a directory that can
be copied to a device as it is. A changed source or ExecuTorch version builds a new directory.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from ondevice.errors import ProfileError
from ondevice.output import staged_dir

SOURCE = Path(__file__).resolve().parent / "cpp" / "runner.cpp"
BINARY = "ondevice-et-runner"
# Linked with --no-as-needed: the kernel and backend libraries register themselves at load time and
# are never referenced by a symbol.
LIBRARIES = (
    "executorch",
    "executorch_backend_xnnpack",
    "executorch_kernels_optimized",
    "executorch_kernels_quantized",
    "executorch_threadpool",
)
COMPILERS = {"x86_64": "g++", "aarch64": "aarch64-linux-gnu-g++"}
WHEEL_PLATFORMS = {"aarch64": "manylinux_2_28_aarch64", "x86_64": "manylinux_2_28_x86_64"}


def cache_root() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ondevice"


def executorch_version() -> str:
    try:
        return importlib.metadata.version("executorch")
    except importlib.metadata.PackageNotFoundError:
        raise ProfileError("executorch is not installed; the native runner is built against its wheel") from None


def _host_arch() -> str:
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(platform.machine().lower(), platform.machine().lower())


def _compiler(arch: str) -> str:
    # On an aarch64 host the plain g++ builds for aarch64, and a cross compiler would be needed for x86-64.
    name = "g++" if arch == _host_arch() else COMPILERS.get(arch)
    if name is None:
        raise ProfileError(f"no compiler known for {arch}; the native runner builds for {', '.join(COMPILERS)}")
    if shutil.which(name) is None:
        package = "g++" if name == "g++" else "g++-aarch64-linux-gnu"
        raise ProfileError(f"{name} is not installed; install the Debian package {package} (or run `ondevice setup`)")
    return name


def _wheel_tree(arch: str, version: str) -> Path:
    """The ``executorch`` package directory (include/ and lib/) of the wheel for ``arch``."""
    if arch == _host_arch():
        # The runner is C++ compiled against the wheel's headers and libraries, not run through its Python API.
        tree = Path(importlib.metadata.distribution("executorch").locate_file("executorch"))
        if not (tree / "include").is_dir() or not (tree / "lib").is_dir():
            raise ProfileError(f"the installed executorch at {tree} ships no include/ or lib/; cannot build the runner")
        return tree
    dest = cache_root() / "wheels" / f"executorch-{version}-{arch}"
    if (dest / "executorch" / "lib").is_dir():
        return dest / "executorch"
    # Downloaded into a scratch directory; the tree is staged beside ``dest`` (ondevice.output).
    with tempfile.TemporaryDirectory(dir=_mkdir(cache_root() / "wheels")) as tmp, staged_dir(dest) as unpacked:
        cmd = [
            sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
            "--platform", WHEEL_PLATFORMS[arch], "--python-version", "3.11", "--implementation", "cp",
            f"executorch=={version}", "-d", tmp,
        ]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wheels = list(Path(tmp).glob("executorch-*.whl"))
        if proc.returncode != 0 or not wheels:
            last = (proc.stderr.strip().splitlines() or ["no wheel"])[-1]
            raise ProfileError(f"cannot download the {arch} executorch=={version} wheel: {last}")
        with zipfile.ZipFile(wheels[0]) as z:
            for member in z.namelist():
                if member.startswith(("executorch/include/", "executorch/lib/")):
                    z.extract(member, unpacked)
    return dest / "executorch"


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def runner_dir(arch: str) -> Path:
    """Where the runner for ``arch`` lives once built."""
    version = executorch_version()
    digest = hashlib.sha256(SOURCE.read_bytes()).hexdigest()[:12]
    return cache_root() / "native" / f"{arch}-executorch{version}-{digest}"


def build(arch: str | None = None) -> Path:
    """The runner binary for ``arch`` (default: the host's), built on first use.

    Returns:
        Path of ``ondevice-et-runner``; its libraries are in the same directory.
    """
    arch = arch or _host_arch()
    out = runner_dir(arch)
    if (out / BINARY).is_file():
        return out / BINARY
    compiler = _compiler(arch)
    version = executorch_version()
    tree = _wheel_tree(arch, version)
    libs = tree / "lib"
    missing = [f"lib{n}.so" for n in LIBRARIES if not (libs / f"lib{n}.so").is_file()]
    if missing:
        raise ProfileError(f"the {arch} executorch wheel lacks {', '.join(missing)}; cannot build the runner")
    with staged_dir(out) as stage:
        cmd = [
            compiler, "-std=c++17", "-O2", "-o", str(stage / BINARY), str(SOURCE),
            f"-I{tree / 'include'}", f"-I{tree / 'include/executorch/runtime/core/portable_type/c10'}",
            "-DC10_USING_CUSTOM_GENERATED_MACROS", f'-DONDEVICE_EXECUTORCH_VERSION="{version}"',
            f"-L{libs}", "-Wl,--no-as-needed", *[f"-l{n}" for n in LIBRARIES], "-Wl,--as-needed",
            "-Wl,-rpath,$ORIGIN",
        ]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            errors = [line for line in proc.stderr.splitlines() if "error" in line] or proc.stderr.splitlines()
            raise ProfileError(f"building the {arch} runner failed: {(errors or ['unknown error'])[0]}")
        for n in LIBRARIES:
            shutil.copy2(libs / f"lib{n}.so", stage / f"lib{n}.so")
    return out / BINARY


def files(binary: Path) -> list[Path]:
    """The binary and the libraries beside it: what a device needs."""
    return [binary, *(binary.parent / f"lib{n}.so" for n in LIBRARIES)]
