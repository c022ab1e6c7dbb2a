"""One module per command group; ondevice/cli.py registers each command with the `ondevice` group."""
