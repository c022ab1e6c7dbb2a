"""Domain exceptions. Library code raises these; only the CLI turns them into exit codes."""


class OndeviceError(Exception):
    """Base class: a problem with the user's input or environment, reported in one line."""


class ConfigError(OndeviceError):
    """A configuration value is invalid."""


class CheckpointError(OndeviceError):
    """A checkpoint is missing, incomplete, corrupt or of an unsupported architecture."""


class DataError(OndeviceError):
    """A data file cannot be read as labelled text."""


class ExportError(OndeviceError):
    """An artifact could not be produced, or it does not compute what the PyTorch model computes."""


class ArtifactError(OndeviceError):
    """An artifact or bundle is missing, truncated, corrupt or does not match its manifest."""


class ProfileError(OndeviceError):
    """A target cannot run an artifact, a runner failed, or a result record is invalid."""


class DeviceError(ProfileError):
    """An Android device (or the adb tool that reaches it) is missing, ambiguous, full or failed a step.

    `stdout`/`stderr`: what a command cut short had printed (a lost device, a timeout, Ctrl-C).
    """

    def __init__(self, message: str, stdout: str = "", stderr: str = ""):
        super().__init__(message)
        self.stdout, self.stderr = stdout, stderr


class DeviceDisconnected(DeviceError):
    """The device went away while a command was running on it."""


class OutputError(OndeviceError):
    """An output cannot be written: no permission, a read-only file system, no space left."""
