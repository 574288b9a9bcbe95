"""The host side: what an engine writes when it pulls an image, computed without a daemon.

* :mod:`.docker` — Docker's overlay2 image store (``write_docker_store``);
* :mod:`.tarsplit` — tar-split records, which let an engine rebuild a layer's exact tar;
* :mod:`.unpack` — a layer unpacked as overlay2 keeps it (whiteouts, opaque directories);
* :mod:`.ids` — the random cache-ids and short link names Docker draws.
"""
