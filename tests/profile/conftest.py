from adb_fixtures import adb_port, connect_device  # noqa: F401  (the stand-in Android devices)
