"""The services behind every interface, one job each (moto's per-service backends are the
model), wired together in ``fakemms.backend.Backend``:

- ``mt``: accepting (or refusing) an MT from any interface, cancel and replace;
- ``reports``: delivery reports, scheduled from a decision or asked for, fired when due;
- ``mo``: MOs from a handset (the control API, scenario scripts) and their callbacks;
- ``scenarios``: the loaded scenarios and their MO scripts' jobs;
- ``accounts``: accounts changed at run time;
- ``restore``: a start from what a persistence file kept.

Each takes the shared parts (``Core``) and the services it calls, never the other way up.
"""
