"""The built-in plugins of ingest, registered exactly like third-party ones."""
