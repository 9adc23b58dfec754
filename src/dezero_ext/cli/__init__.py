"""The ``dezero-ext`` command (also ``python -m dezero_ext``): ``dezero-ext ops`` lists the
registered ops, ``dezero-ext check`` checks their gradients.

Exit status (``EXIT_CODES``): 0 every check passed, 1 a check failed, 2 a usage error or a
plugin that failed to load or conflicts with another, 74 the output could not be written,
129 stopped by SIGHUP, 130 interrupted (Ctrl-C), 141 the output pipe was closed, 143 stopped by
SIGTERM. Errors are one line on stderr, never a traceback.
"""

from dezero_ext.cli.app import build_parser, main
from dezero_ext.cli.check import cmd_check
from dezero_ext.cli.listing import cmd_ops
from dezero_ext.cli.output import EXIT_CODES

__all__ = ["EXIT_CODES", "build_parser", "cmd_check", "cmd_ops", "main"]
