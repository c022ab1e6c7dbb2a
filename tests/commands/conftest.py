import sys
from pathlib import Path

# The stand-in Android devices live with the profiling tests.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "profile"))

from adb_fixtures import adb_port, connect_device, private_adb_server  # noqa: E402, F401
