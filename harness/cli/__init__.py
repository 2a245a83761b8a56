"""``mtls-harness``: the command line (``harness.cli.main:main``). Thin over the modules.

Each command's handler imports the modules it runs when it runs, not at
start-up: ``mtls-harness --help`` and a usage error (exit 2) stay fast, where
the stores, the server, the diagnosis and pytest cost about a second to
import. That is the one reason for the function-level imports in ``cli/``.

Exit codes: 0 all as expected / no error finding, 1 some scenario not as
expected / an error finding, 2 bad input (one line on stderr, no traceback);
141 when stdout was closed under it (``mtls-harness explain ... | head``).
"""

__all__ = ["EXIT_BAD_INPUT", "EXIT_BROKEN_PIPE", "EXIT_FAILED", "EXIT_OK"]

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE
