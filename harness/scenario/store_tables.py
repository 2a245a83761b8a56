"""The ``[keystore]`` and ``[truststore]`` tables: formats, passwords, entries and what they refer to."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.scenario.model import SERVER_NAMES, CertEntrySpec, CertSpec, KeyEntrySpec, StoreSpec, chain_to_root
from harness.scenario.reader import TableReader
from harness.secret import Secret

__all__ = ["StoreTables"]

_DEFAULT_PASSWORD = "changeit"  # noqa: S105 - keytool's well-known default; only for an omitted [truststore]


class StoreTables(TableReader):
    """Reads ``[keystore]`` and ``[truststore]``: entries name known certificates, aliases as the format keeps them."""

    def _ref(self, key: str, name: str, pki: Mapping[str, CertSpec]) -> str:
        identity = self.doc.get("server", {}).get("identity", {})
        if name == "server.intermediate" and not identity.get("intermediate", True):
            raise self.fail(
                key,
                "'server.intermediate' does not exist: [server.identity] has intermediate = false",
                "remove it, or set intermediate = true",
            )
        if name in pki or name in SERVER_NAMES:
            return name
        known = ", ".join([*sorted(pki), *SERVER_NAMES])
        raise self.fail(key, f"{name!r} is not defined under [pki]", f"use one of: {known}")

    def _store_common(self, table: str, raw: Mapping[str, Any]) -> dict[str, Any]:
        password = Secret(raw["password"])
        common: dict[str, Any] = {
            "format": raw.get("format", "jks"),
            "password": password,
            "destination_password": Secret(raw.get("destination_password", password.reveal())),
            "corrupt": raw.get("corrupt"),
            # "openssl3": what OpenSSL 3 writes by default, the same AES-256 / HMAC-SHA256 profile.
            "pkcs12_encryption": "aes"
            if raw.get("pkcs12_encryption") == "openssl3"
            else raw.get("pkcs12_encryption", "aes"),
        }
        if "java_trusted" in raw:
            if table != "truststore" or raw.get("format", "jks") != "pkcs12":
                raise self.fail(f"{table}.java_trusted", 'applies to a format = "pkcs12" truststore only', "remove it")
            common["java_trusted"] = raw["java_trusted"]
        if "file" in raw:
            file = (self.path.parent / raw["file"]).resolve()
            if not file.is_file():
                raise self.fail(
                    f"{table}.file",
                    f"{raw['file']!r} does not exist (looked in {str(file.parent)!r})",
                    "give a path relative to the scenario file",
                )
            common["file"] = file
            for generated in ("entries", "trust", "corrupt", "key_password"):
                if generated in raw:
                    raise self.fail(
                        f"{table}.{generated}",
                        f"cannot be combined with {table}.file",
                        "either use an existing store or describe one to generate",
                    )
        if common["pkcs12_encryption"] != "aes" and common["format"] != "pkcs12":
            raise self.fail(
                f"{table}.pkcs12_encryption", 'applies to format = "pkcs12" only', 'remove it or set format = "pkcs12"'
            )
        return common

    def _keystore(self, pki: Mapping[str, CertSpec]) -> StoreSpec:
        raw = self.doc.get("keystore")
        if raw is None:
            raise self.fail(
                "keystore",
                "missing [keystore] table",
                "describe the keystore the platform will use (entries = [] for an empty one)",
            )
        common = self._store_common("keystore", raw)
        key_password = Secret(raw.get("key_password", common["password"].reveal()))
        if common["format"] == "pkcs12" and key_password != common["password"]:
            # keytool itself refuses this: "Different store and key passwords not
            # supported for PKCS12 KeyStores".
            raise self.fail(
                "keystore.key_password",
                "a PKCS#12 keystore has one password for the store and its keys",
                'use format = "jks" to reproduce a differing key password',
            )
        keys: list[KeyEntrySpec] = []
        certs: list[CertEntrySpec] = []
        aliases: set[str] = set()
        for i, entry in enumerate(raw.get("entries", ())):
            key = f"keystore.entries[{i}]"
            alias = self._alias(f"{key}.alias", entry["alias"], common["format"], aliases)
            if "cert" in entry:
                certs.append(CertEntrySpec(alias, self._ref(f"{key}.cert", entry["cert"], pki)))
                continue
            owner = entry["key"]
            if owner not in pki:
                raise self.fail(
                    f"{key}.key",
                    f"{owner!r} is not defined under [pki]",
                    f"use one of: {', '.join(sorted(pki)) or '(none)'}",
                )
            if "chain" in entry:
                chain = tuple(self._ref(f"{key}.chain[{j}]", n, pki) for j, n in enumerate(entry["chain"]))
                if chain[0] != owner:
                    raise self.fail(
                        f"{key}.chain[0]",
                        f"the chain must start with the key's own certificate {owner!r}",
                        f"put {owner!r} first",
                    )
            else:
                full = chain_to_root(pki, owner)
                chain = full[:-1] if len(full) > 1 else full
            private_key = entry.get("private_key")
            if private_key is not None and (private_key not in pki or private_key == owner):
                raise self.fail(
                    f"{key}.private_key",
                    f"{private_key!r} is not another name under [pki]",
                    f"name the [pki] entry whose key to store instead of {owner!r}'s",
                )
            keys.append(KeyEntrySpec(alias, owner, chain, private_key))
        if common["format"] == "pkcs12" and common.get("file") is None:
            self._pkcs12_generatable("keystore", keys, certs)
        return StoreSpec(key_password=key_password, key_entries=tuple(keys), cert_entries=tuple(certs), **common)

    def _pkcs12_generatable(self, table: str, keys: list[KeyEntrySpec], certs: list[CertEntrySpec]) -> None:
        """cryptography writes a PKCS#12 store with one key entry and its chain, or trusted certificates only."""
        if len(keys) > 1:
            raise self.fail(
                f"{table}.entries[1]",
                "a generated PKCS#12 keystore holds one key entry",
                'use format = "jks" for several',
            )
        if keys and certs:
            raise self.fail(
                f"{table}.entries",
                "a generated PKCS#12 keystore holds a key entry or trusted certificates, not both",
                'use format = "jks"',
            )
        if keys and keys[0].private_key is not None:
            # cryptography (as openssl pkcs12 -export) refuses to write a key that does not match its certificate.
            raise self.fail(
                f"{table}.entries[0].private_key",
                "a generated PKCS#12 keystore cannot hold a key that does not match its certificate",
                'use format = "jks" for a key-certificate mismatch',
            )
        if not keys and not certs:
            raise self.fail(
                f"{table}.entries" if table == "keystore" else "truststore.trust",
                "a generated PKCS#12 store cannot be empty",
                'use format = "jks" for an empty store',
            )

    def _alias(self, key: str, alias: str, fmt: str, seen: set[str]) -> str:
        if fmt == "jks" and alias != alias.lower():
            # JKS aliases are case-insensitive: the JDK lower-cases them, so an
            # upper-case alias would not be "kept as written".
            raise self.fail(
                key,
                f"{alias!r}: JKS stores keep aliases in lower case",
                f'write {alias.lower()!r}, or use format = "pkcs12"',
            )
        if alias.lower() in seen:
            raise self.fail(key, f"alias {alias!r} is used twice", "give every entry its own alias")
        seen.add(alias.lower())
        return alias

    def _truststore(self, pki: Mapping[str, CertSpec]) -> StoreSpec:
        raw = self.doc.get("truststore")
        if raw is None:
            password = Secret(_DEFAULT_PASSWORD)
            return StoreSpec(
                "jks", password, password, password, cert_entries=(CertEntrySpec("server-root", "server.root"),)
            )
        common = self._store_common("truststore", raw)
        certs: list[CertEntrySpec] = []
        aliases: set[str] = set()
        trust = raw.get("trust", [] if ("entries" in raw or "file" in raw) else ["server.root"])
        for i, name in enumerate(trust):
            ref = self._ref(f"truststore.trust[{i}]", name, pki)
            alias = self._alias(f"truststore.trust[{i}]", ref.replace(".", "-"), common["format"], aliases)
            certs.append(CertEntrySpec(alias, ref))
        for i, entry in enumerate(raw.get("entries", ())):
            key = f"truststore.entries[{i}]"
            alias = self._alias(f"{key}.alias", entry["alias"], common["format"], aliases)
            certs.append(CertEntrySpec(alias, self._ref(f"{key}.cert", entry["cert"], pki)))
        if common["format"] == "pkcs12" and common.get("file") is None:
            self._pkcs12_generatable("truststore", [], certs)
        return StoreSpec(key_password=common["password"], cert_entries=tuple(certs), **common)
