"""Corpus mode: many images at once, on Dask (see :mod:`imgexplore.corpus.scan`)."""

from .analysis import (
    chunk_duplication,
    distributions,
    file_duplication,
    layer_sharing,
    load,
    metadata_only_share,
    most_shared,
    write_report,
)
from .scan import ScanReport, local_cluster, read_specs, read_table, registry_specs, scan

__all__ = [
    "ScanReport",
    "chunk_duplication",
    "distributions",
    "file_duplication",
    "layer_sharing",
    "load",
    "local_cluster",
    "metadata_only_share",
    "most_shared",
    "read_specs",
    "read_table",
    "registry_specs",
    "scan",
    "write_report",
]
