"""ondevice: put transformer text classifiers on phones."""

__version__ = "0.1.0"
__all__ = ["Classifier", "Prediction", "__version__"]


def __getattr__(name: str):
    # Loaded on first use: `import ondevice` stays stdlib-only and cheap (the profiler's runner may run
    # in an emulated ARM Python without torch), while the Classifier pulls in NumPy and a runtime.
    if name in ("Classifier", "Prediction"):
        from ondevice import classifier

        return getattr(classifier, name)
    raise AttributeError(f"module 'ondevice' has no attribute {name!r}")
