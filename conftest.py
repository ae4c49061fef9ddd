"""Root pytest configuration: the target option (--target embedded|containers|aws) and the
stack fixtures come from the project's own pytest plugin, which users can load the same way."""

pytest_plugins = ["serverless_testbed.targets.pytest_plugin"]
