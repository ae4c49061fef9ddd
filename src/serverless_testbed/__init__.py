"""serverless-testbed: a local-first emulated test environment for event-driven AWS systems."""
