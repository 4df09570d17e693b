"""The command line: one module per command, shared options and the one exit-code table."""

__all__: list[str] = []
