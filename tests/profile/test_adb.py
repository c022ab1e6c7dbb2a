"""The adb wrapper against the real adb client and the stand-in device."""

import hashlib
import time

import pytest
from adb_device import DeviceSpec

from ondevice.errors import DeviceDisconnected, DeviceError
from ondevice.profile.adb import Adb
from ondevice.profile.android import select_devices


def test_devices_and_facts(connect_device):
    spec = DeviceSpec(model="Galaxy A54", soc="s5e8835", platform="erd8835", battery_level=64, temperature_mc=41200)
    device = connect_device(spec)
    adb = Adb()
    listed = {d.serial: d for d in adb.devices()}
    assert listed[device.serial].state == "device" and listed[device.serial].model == "Galaxy_A54"
    facts = adb.on(device.serial).facts()
    assert facts["model"] == "Galaxy A54" and facts["soc"] == "s5e8835" and facts["abi"] == "arm64-v8a"
    assert facts["android_version"] == "14" and facts["sdk"] == 34 and facts["cores"] == 8
    assert facts["max_freq_khz"] == list(spec.max_freq_khz) and facts["governor"] == "sched_pixel"
    assert facts["temperature_c"] == 41.2
    assert facts["battery"] == {"level": 64, "scale": 100, "temperature_c": 28.3, "plugged": True}


def test_shell_keeps_exit_status_and_stderr_apart(connect_device):
    adb = Adb(connect_device().serial)
    result = adb.shell("echo out; echo err >&2; exit 7", check=False)
    assert (result.returncode, result.stdout, result.stderr) == (7, "out\n", "err\n")
    with pytest.raises(DeviceError, match=r"exited with 3: boom$"):
        adb.shell("echo boom >&2; exit 3")


def test_push_skips_unchanged_files_by_sha256(connect_device, tmp_path):
    device = connect_device()
    adb = Adb(device.serial)
    local = tmp_path / "model.pte"
    local.write_bytes(bytes(range(256)) * 1000)
    remote = "/data/local/tmp/ondevice/model.pte"
    assert adb.push(local, remote) is True
    assert adb.sha256(remote) == hashlib.sha256(local.read_bytes()).hexdigest()
    assert adb.push(local, remote) is False  # same bytes: nothing sent
    local.write_bytes(b"changed")
    assert adb.push(local, remote) is True
    back = tmp_path / "back"
    adb.pull(remote, back)
    assert back.read_bytes() == b"changed"
    adb.remove("/data/local/tmp/ondevice")
    assert adb.sha256(remote) is None


def test_full_disk(connect_device, tmp_path):
    adb = Adb(connect_device(DeviceSpec(full_disk=True)).serial)
    local = tmp_path / "model.pte"
    local.write_bytes(b"x" * 100_000)
    with pytest.raises(DeviceError, match=r"not enough space in /data/local/tmp/ondevice: 0.1 MB needed, 0.0 MB free"):
        adb.ensure_space("/data/local/tmp/ondevice", local.stat().st_size)
    with pytest.raises(DeviceError, match="disk full while pushing model.pte"):
        adb.push(local, "/data/local/tmp/ondevice/model.pte")


def test_disconnect_is_told_apart_from_silence(connect_device):
    adb = Adb(connect_device(DeviceSpec(disconnect_after_commands=1)).serial)
    assert adb.shell("true").stdout == ""  # a command that prints nothing is not a lost device
    with pytest.raises(DeviceDisconnected, match="disconnected"):
        adb.shell("echo never")


def test_device_selection(connect_device):
    adb = Adb()
    with pytest.raises(DeviceError, match="no Android device attached"):
        select_devices(adb)
    first = connect_device()
    assert select_devices(adb) == [first.serial]
    second = connect_device(DeviceSpec(model="Pixel 8"))
    with pytest.raises(DeviceError, match=r"^2 devices attached .*--target android:SERIAL .*--all-devices$"):
        select_devices(adb)
    assert sorted(select_devices(adb, all_devices=True)) == sorted([first.serial, second.serial])
    assert select_devices(adb, [second.serial]) == [second.serial]
    with pytest.raises(DeviceError, match="no device 'emulator-5554' attached"):
        select_devices(adb, ["emulator-5554"])


def test_no_adb_binary(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(DeviceError, match=r"^adb not found: install it with `ondevice setup`"):
        Adb()


def test_a_command_that_hangs_is_stopped_with_what_it_printed(connect_device):
    device = connect_device()
    adb = Adb(device.serial)
    with pytest.raises(DeviceError, match=r": `echo early >&2; sleep 30` gave no answer in 2 s$") as e:
        adb.shell("echo early >&2; sleep 30", timeout=2)
    assert e.value.stderr == "early\n"
    assert adb.shell("echo still here").stdout == "still here\n"  # the device is fine, the command is gone


def test_an_offline_device_is_named_with_what_to_do(connect_device):
    device = connect_device()
    device.disconnect()  # the cable is pulled; adb keeps the entry, offline
    adb = Adb()
    for _ in range(50):
        if {d.serial: d.state for d in adb.devices()}.get(device.serial) == "offline":
            break
        time.sleep(0.1)
    with pytest.raises(DeviceError, match=rf"^device {device.serial} is offline: reconnect it"):
        select_devices(adb)
    with pytest.raises(DeviceError, match=rf"^device {device.serial} is offline"):
        select_devices(adb, [device.serial])
