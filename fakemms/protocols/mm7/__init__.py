"""MM7 (3GPP TS 23.140 over SOAP 1.1): ``codec`` is the I/O-free codec and its public API."""
