"""Configuration and the plugin host: finding plugins (built-in, installed,
named in the config), and turning ``config.toml`` into checked options.
Imports only :mod:`ingest.contract`."""
