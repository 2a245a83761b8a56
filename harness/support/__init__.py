"""From a support case to a regression scenario.

- :mod:`harness.support.facts` reads what a support engineer pastes (Java
  exceptions, ``javax.net.debug`` logs, ``curl -v``, ``openssl s_client``,
  gateway error pages) into facts: which alert came from which side, what the
  CertificateRequest asked for, what the client sent.
- :mod:`harness.support.explain` ranks outcome codes from those facts and the
  phrases in ``knowledge.toml`` (the knowledge is data, one test per entry).
- :mod:`harness.support.capture` reads a server's MTLS profile without sending
  application data.
- :mod:`harness.support.reproduce` turns a customer's destination into a
  sanitized scenario of the same shape.
"""
