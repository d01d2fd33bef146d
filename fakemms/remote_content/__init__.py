"""Remote content (``application/vnd.openmarket.remoteContent``): fetching with the
provider's caching (``fetch``), the download within its limits (``download``), the freshness
rules with no I/O (``freshness``), and the message pipeline that fetches, then schedules
reports or a rejection (``pipeline``)."""

from fakemms.remote_content.fetch import FetchResult, RemoteFetcher
from fakemms.remote_content.freshness import lifetime, parse_cache_control
from fakemms.remote_content.pipeline import RemoteContent, needs_fetch, rejection

__all__ = ["FetchResult", "RemoteContent", "RemoteFetcher", "lifetime", "needs_fetch",
           "parse_cache_control", "rejection"]
