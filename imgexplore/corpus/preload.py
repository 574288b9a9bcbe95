"""What every worker of a scan imports as it starts (a Dask worker preload).

The package imports its heavy parts only where they are used, so that the command line
starts fast. A scan's worker uses all of them, and without this its first tasks pay for the
imports (HTTP client, Parquet writer, the listing and hashing code: about 0.1–0.2 s per
worker) while the scan runs. :func:`~imgexplore.corpus.local_cluster` names this module as
its workers' preload; give it to workers you start yourself::

    dask worker SCHEDULER --preload imgexplore.corpus.preload
"""

from __future__ import annotations

import httpcore  # noqa: F401 - imported by httpx only when its first client is made
import httpx  # noqa: F401
import pyarrow.compute  # noqa: F401
import pyarrow.pandas_compat  # noqa: F401 - imported by pyarrow when a table is first converted
import pyarrow.parquet  # noqa: F401
import pyarrow.vendored.version  # noqa: F401 - imported when pyarrow first looks for pandas

from .. import blobstore, compression, opener, rows  # noqa: F401
from ..filetree import arrowtable  # noqa: F401
from ..registry import client  # noqa: F401
from ..sources import registry  # noqa: F401
from . import scan  # noqa: F401
