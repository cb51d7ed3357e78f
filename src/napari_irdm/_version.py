"""The package version (one place; the package root and every provenance line read it)."""

__version__ = "0.1.0"
