"""`ondevice devices` through the real adb client and stand-in devices."""

import json

from adb_device import DeviceSpec
from click.testing import CliRunner

from ondevice.cli import cli


def test_devices_lists_every_adb_device_with_facts(connect_device):
    pixel = connect_device()
    emulator = connect_device(DeviceSpec(model="sdk_gphone64_x86_64", abi="x86_64", soc="", platform="ranchu"))
    result = CliRunner().invoke(cli, ["devices", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    found = {d["serial"]: d for d in data["android"]["devices"]}
    assert found[pixel.serial]["model"] == "Pixel 7" and found[pixel.serial]["soc"] == "Tensor G2"
    assert found[pixel.serial]["cores"] == 8 and found[pixel.serial]["android_version"] == "14"
    assert found[emulator.serial]["abi"] == "x86_64" and found[emulator.serial]["soc"] == "ranchu"
    assert data["host"]["available"] and data["host"]["cores"] >= 1
    assert isinstance(data["qemu"]["available"], bool)

    text = CliRunner().invoke(cli, ["devices"]).stdout
    line = next(x for x in text.splitlines() if pixel.serial in x)
    assert line.endswith("Pixel 7  Tensor G2  arm64-v8a  Android 14 (SDK 34)  8 cores  max 2.85 GHz")
    assert "host: " in text and "linux-arm64-qemu: " in text


def test_devices_without_adb_says_how_to_get_it(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    result = CliRunner().invoke(cli, ["devices"])
    assert result.exit_code == 0
    assert "unavailable: adb not found" in result.stdout and "`ondevice setup`" in result.stdout
    assert "linux-arm64-qemu: missing qemu-aarch64-static (Debian package qemu-user-static)" in result.stdout
