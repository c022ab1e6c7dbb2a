"""One module per command group; each registers itself in ondevice/cli.py."""
