"""The ``accupredix`` command line."""
