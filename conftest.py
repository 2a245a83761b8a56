# Registers the mtls-harness plugin for `pytest` at the repository root, so that
# scenarios/*.toml are collected besides tests/. The installed package registers
# the same module through its `pytest11` entry point under the same name
# ("harness.plugin"), which pytest treats as one plugin, not two.
pytest_plugins = ["harness.plugin", "pytester"]
