"""Traced cells: what each rank's MPI calls did, matched into messages, drawn as a timeline.

Built on `cells` (a traced cell is a cell run with the ranks' recorders armed); never imports `front`.
"""
