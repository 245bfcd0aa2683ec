"""The processes of one MPI world: launchers, engines, controller, control channel, watchdogs.

Imports nothing of `cells`, `trace` or `front`: everything above builds on this package.
"""
