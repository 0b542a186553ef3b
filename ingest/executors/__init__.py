"""Where a run's parallel work goes: local processes (:mod:`.local`, the
default) or Ray tasks (:mod:`.ray`). Both satisfy
:class:`ingest.contract.executor.Executor`."""
