"""The package version, read by hatch at build time and sent in the user-agent."""

__version__ = "0.2.0"
