"""ondevice: put transformer text classifiers on phones."""

__version__ = "0.1.0"
