"""The control API (for tests and tools), its OpenAPI document and the event stream."""
