"""The diagnosis: the one place outcome codes are decided.

``diagnose(outcome, evidence)`` turns what an engine saw (typed facts, raw
errors) and what else is known (:class:`Evidence`) into a :class:`Verdict`;
``store_reading_verdict`` does the same for the JDK's reading of the stores
(``check``). The certificate predicates (``name_of``, ``weak_key``,
``verify_server_chain``, ...) judge certificates on their own, without codes.

Modules: ``certificates`` (the predicates), ``evidence`` (Evidence, Verdict,
shared readings), ``verdict`` (the top of the tree), ``store_failures``,
``http_answer``, ``server_rejected``, ``client_certificate``,
``client_rejected`` (its branches) and ``raw_errors`` (the stacks' words).
Every fix is the codes registry's (``Evidence.fix``: harness/knowledge/codes.toml),
filled with what the evidence knows.
"""

from __future__ import annotations

from harness.diagnose.certificates import (
    name_of,
    reaches_ca_names,
    usage_problem,
    verify_client_chain,
    verify_server_chain,
    weak_key,
    weak_signature,
)
from harness.diagnose.evidence import Evidence, Verdict, scenario_evidence
from harness.diagnose.store_failures import key_cert_mismatch, store_reading_verdict
from harness.diagnose.verdict import diagnose

__all__ = [
    "Evidence",
    "Verdict",
    "diagnose",
    "key_cert_mismatch",
    "name_of",
    "reaches_ca_names",
    "scenario_evidence",
    "store_reading_verdict",
    "usage_problem",
    "verify_client_chain",
    "verify_server_chain",
    "weak_key",
    "weak_signature",
]
