"""The installed version of ingest (``ingest.__version__``)."""

from __future__ import annotations

try:
    from importlib.metadata import PackageNotFoundError, version

    __version__ = version("ingest")
except PackageNotFoundError:  # running from a checkout without installing
    __version__ = "0.0.0+unknown"
