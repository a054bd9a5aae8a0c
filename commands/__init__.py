"""The ``hls-translate`` sub-commands: argument parsing and printing, outside the library.

One module per command, each with ``add_arguments(parser)`` and ``run(args) -> int``; ``cli.py``
imports only the chosen one.  The library (``core``, ``training``) never imports this package.
"""
