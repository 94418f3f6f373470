"""The command line and the Textual console: thin clients of `core`."""
