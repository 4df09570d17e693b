"""The results folder: writing it (trace, renderings, result.json with hashes) and reading it back.

`folder` writes, `reading` reads; import them directly (this facade stays light, so the drop-in
API, which only writes, does not load the statistics that reading repeated runs needs).
"""

__all__: list[str] = []
