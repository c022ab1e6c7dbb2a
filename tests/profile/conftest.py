from pathlib import Path

import pytest
from adb_fixtures import adb_port, connect_device, private_adb_server  # noqa: F401  (the stand-in Android devices)
from click.testing import CliRunner

from ondevice.cli import cli


@pytest.fixture(scope="session")
def profile_cache(tmp_path_factory) -> Path:
    """One cache for the whole session: the native runners and the arm64 sysroot are built once."""
    return tmp_path_factory.mktemp("profile-cache")


@pytest.fixture(autouse=True)
def shared_profile_cache(profile_cache, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(profile_cache))


@pytest.fixture(scope="session")
def tiny_bundle(tiny_bert_dir, tmp_path_factory) -> Path:
    """A small model exported to all three formats at sequence length 32, fp32, verified."""
    out = tmp_path_factory.mktemp("bundles") / "tiny"
    r = CliRunner().invoke(
        cli,
        [
            "export", str(tiny_bert_dir), "--target", "host", "--format", "executorch,tflite,onnx",
            "--quantize", "fp32", "--seq-len", "32", "--out", str(out),
        ],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    return out


@pytest.fixture(scope="session")
def runner_cache(profile_cache):
    """The session's cache (the autouse shared_profile_cache points XDG_CACHE_HOME at it) with the aarch64
    and x86-64 ExecuTorch runners built."""
    import os

    from adb_fixtures import aarch64_sysroot

    from ondevice.errors import ProfileError
    from ondevice.profile import native

    if aarch64_sysroot() is None:
        pytest.skip("qemu-aarch64-static or the aarch64 cross libraries are missing (`ondevice setup`)")
    old = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(profile_cache)
    try:
        native.build("aarch64")
        native.build("x86_64")
    except ProfileError as e:
        pytest.skip(f"the native runner cannot be built here: {e}")
    finally:
        if old is None:
            os.environ.pop("XDG_CACHE_HOME", None)
        else:
            os.environ["XDG_CACHE_HOME"] = old
    return profile_cache
