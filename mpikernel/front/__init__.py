"""What users touch: the Session, the magics, the Jupyter kernel, kernel specs and the CLI's parts.

The top of the import graph: may import `trace`, `cells` and `cluster`; nothing imports it back.
"""
