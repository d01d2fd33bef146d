"""Stand-ins for the application under test: a callback receiver that behaves well."""

from fakemms.testing.receiver import AppReceiver, ReceivedCallback

__all__ = ["AppReceiver", "ReceivedCallback"]
