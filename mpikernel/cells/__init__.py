"""Running one cell on the ranks of a world and merging what the ranks said.

Imports `cluster` (the world it runs on), never `trace` or `front`.
"""
