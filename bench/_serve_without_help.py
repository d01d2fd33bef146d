"""``python -m bench._serve_without_help serve ...``: fakemms with ``Scheduler.help`` off
(request threads fire no due job), for bench/scheduler_help.py. Not for use elsewhere."""

import sys

from fakemms.cli import main
from fakemms.scheduler import Scheduler

Scheduler.help = lambda self, limit=2: 0  # type: ignore[method-assign]
sys.exit(main())
