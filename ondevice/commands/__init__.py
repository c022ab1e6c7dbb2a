"""Command groups that live outside ``ondevice/cli.py``; each module registers its commands there."""
