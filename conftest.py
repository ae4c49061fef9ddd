"""Root pytest configuration: the target option (--target embedded|containers|aws) and the
stack fixtures come from the project's own pytest plugin, which users can load the same way."""

pytest_plugins = ["serverless_testbed.targets.pytest_plugin"]


def pytest_collection_modifyitems(items: list) -> None:
    """Unit tests run before the others in a run that collects both (plain `pytest`, or
    `pytest tests` with -n): the first embedded stack installs its moto patches in the test
    process for good, and the unit tests that use moto in process expect moto as released.
    The sort is stable, so each module's tests stay together and in their order."""
    items.sort(key=lambda item: 0 if item.nodeid.startswith("tests/unit/") else 1)
