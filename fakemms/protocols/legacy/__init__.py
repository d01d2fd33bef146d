"""The legacy MX Telecom MMS gateway: MO by GET or multipart POST with ``mms.zip``, retrieval
as a zip, ``SendMMS`` and GET report callbacks. ``codec`` is the whole public API (pure);
``archive`` holds the zip, ``errors`` the plain-text errors."""
