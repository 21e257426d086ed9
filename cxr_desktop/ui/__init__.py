"""The PyQt5 application: the only package that imports Qt (import-linter contracts in pyproject.toml)."""
