"""Targets as TOML data: the shipped ones, a user's own, and bad files."""

import pytest

from ondevice.errors import ConfigError
from ondevice.profile import targets


def test_shipped_targets():
    found = targets.available()
    assert {"host", "linux-arm64-qemu", "android", "pixel-8", "galaxy-a54", "low-end-a53"} <= set(found)
    host, qemu, pixel = found["host"], found["linux-arm64-qemu"], found["pixel-8"]
    assert host.kind == "host" and not host.emulated and host.runners_for("executorch") == ("native", "python")
    assert qemu.emulated and qemu.abi == "arm64-v8a" and qemu.runners_for("onnx") == ("python",)
    assert pixel.kind == "android" and pixel.cpus == (4, 5) and pixel.cpu_mask == "30"


def test_a_user_adds_a_target_by_adding_a_file(tmp_path, monkeypatch):
    d = tmp_path / "config" / "ondevice" / "targets"
    d.mkdir(parents=True)
    (d / "my-box.toml").write_text('kind = "host"\nthreads = 1\ncpus = [0]\nruns = 7\n[runners]\nonnx = ["python"]\n')
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    t = targets.resolve("my-box")
    assert (t.name, t.threads, t.cpus, t.runs, t.cpu_mask) == ("my-box", 1, (0,), 7, "1")
    assert t.runners_for("executorch") == ()


def test_android_serial():
    t = targets.resolve("android:emulator-5554")
    assert t.serial == "emulator-5554" and t.kind == "android"
    with pytest.raises(ConfigError, match="not an android target"):
        targets.resolve("host:abc")


def test_unknown_target_lists_the_known_ones():
    with pytest.raises(ConfigError, match="unknown target 'phone'; known: .*host"):
        targets.resolve("phone")


@pytest.mark.parametrize(
    "text, message",
    [
        ('kind = "tablet"', "kind must be one of host, qemu, android"),
        ('kind = "host"\nthreads = 0', "threads must be a positive integer"),
        ('kind = "host"\ncolour = "red"', "unknown keys colour"),
        ('kind = "host"\n[runners]\nexecutorch = ["benchmark_model"]', "cannot run on a host target"),
        ('kind = "host"\n[runners]\nkeras = ["python"]', "unknown format"),
        ("threads = 2", "needs kind"),
        ("kind = ", "not valid TOML"),
    ],
)
def test_bad_target_files(text, message, tmp_path):
    f = tmp_path / "t.toml"
    f.write_text(text)
    with pytest.raises(ConfigError, match=message):
        targets.parse(f)
