"""The ``modelyard`` command line: thin commands that parse, call a capability and format."""
