"""The package's version, in a module of its own: the OpenAPI document and the CLI read it
without importing the package's lazy names (nothing imports upward)."""

__version__ = "0.1.0"
