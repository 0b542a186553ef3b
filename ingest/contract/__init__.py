"""The plugin contract: what a plugin and the core agree on.

Documents and what happens to them (:mod:`~ingest.contract.document`,
:mod:`~ingest.contract.ledger`), stage specs and the source and sink
protocols (:mod:`~ingest.contract.specs`), the hooks
(:mod:`~ingest.contract.hookspecs`), option classes
(:mod:`~ingest.contract.options`), the handle a stage gets
(:mod:`~ingest.contract.context`, :mod:`~ingest.contract.executor`) and the
errors. Nothing here imports from the rest of ``ingest``.
"""
