"""The site a document belongs to, for counting site furniture.

Furniture recurs across the pages of one site; the same prose across sites is
syndication. The site of a document is, in this order:

1. its ``outlet`` (from the header stage, or given by the source);
2. the host of its URL (metadata ``url``, ``source_url``, ``canonical_url``
   or ``link``), without a leading ``www.``;
3. the first folder of its path under the source, when the document's id is
   that path (``text_files`` reads ``site-a/2025/page.txt`` as id
   ``site-a/2025/page.txt``): a dump with a folder per site (a folder
   name without a letter, ``00017`` or ``2025``, splits a dump into parts:
   it is no site);
4. unknown (None): then only very frequent blocks count as furniture.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

from ingest import Document

#: Metadata keys that may hold the page's address.
URL_KEYS = ("url", "source_url", "canonical_url", "link")


def site_of(doc: Document) -> str | None:
    """The site key of ``doc`` (``outlet:...``, ``host:...`` or ``folder:...``), or None."""
    metadata = doc.metadata
    outlet = metadata.get("outlet")
    if isinstance(outlet, str) and outlet.strip():
        return "outlet:" + " ".join(outlet.casefold().split())
    for key in URL_KEYS:
        host = _host(metadata.get(key))
        if host:
            return "host:" + host
    folder = _folder(doc)
    return "folder:" + folder if folder else None


def _host(value: Any) -> str | None:
    if not isinstance(value, str) or "." not in value:
        return None
    text = value.strip()
    if "://" not in text:
        text = "//" + text  # "example.com/page": a host all the same
    try:
        host = urllib.parse.urlsplit(text).hostname
    except ValueError:
        return None
    if not host or "." not in host:
        return None
    return host[4:] if host.startswith("www.") else host


def _folder(doc: Document) -> str | None:
    """The first folder of the document's id when the id is its file's path under the source."""
    doc_id = doc.id
    if "/" not in doc_id or doc.origin is None or not doc.origin.path:
        return None
    path = doc.origin.path.replace("\\", "/")
    if not path.endswith("/" + doc_id):
        return None
    folder = doc_id.split("/", 1)[0]
    # "00017/", "2025/": folders that split a big dump into parts, or by date, not by site
    return folder if any(c.isalpha() for c in folder) else None
