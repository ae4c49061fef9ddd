"""Small handlers the local runtime and poller tests run in real container processes."""
