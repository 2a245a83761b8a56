"""mtls-harness: prove a Mutual-TLS destination works before go-live, and reproduce why one does not.

Pipeline (one module per stage): ``scenario`` → ``pki`` → ``stores`` →
``server`` → ``engines`` → ``diagnose`` → ``plugin`` / ``cli``.
"""

__version__ = "0.1.0"
