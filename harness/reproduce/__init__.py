"""``reproduce``: a customer's destination turned into a sanitized regression scenario of the same shape.

``reproduction`` is the command; ``shape`` reads the customer's stores (and a
``capture`` profile) into the scenario's tables, ``render`` writes them as
TOML, ``sanitize`` checks that nothing of the customer's is left in the text.
"""

from harness.reproduce.reproduction import Reproduction, reproduce

__all__ = ["Reproduction", "reproduce"]
