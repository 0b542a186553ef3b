"""The engine's parts: applying stages to documents, worker processes,
spools, checkpoints, atomic output, the output folder's lock, JSON records.
:class:`ingest.runner.Pipeline` puts them together. Imports only
:mod:`ingest.contract` (and :mod:`ingest.host` for describing a config)."""
