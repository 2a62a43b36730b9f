"""The version of scratchnn, in one place (the package, model files and the CLI read it)."""

__version__ = "0.1.0"
