"""Protocol codecs (no I/O) and their blueprints, one package per provider interface."""
