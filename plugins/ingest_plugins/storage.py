"""Folders and files behind fsspec URLs (``s3://``, ``gs://``, ``memory://``, ...).

The built-in sources and sinks call this module only for a path that is a URL
(:func:`is_url`); a local path never reaches it, so local runs need no extra
package and keep their own code (a walk that reports links and unreadable
folders, atomic renames, the output lock, resume).

fsspec, and the package of each filesystem (``s3fs`` for ``s3://``, ``gcsfs``
for ``gs://``), are optional: ``pip install 'ingest[s3]'``. A URL whose
packages are missing is a config error that says what to install
(:func:`check_available`), raised before any work.

Credentials and endpoints come from ``storage_options`` (the options of the
fsspec filesystem, e.g. ``{endpoint_url = "http://127.0.0.1:9000"}`` for
s3fs) and from the filesystem's usual environment (``AWS_ACCESS_KEY_ID``,
``AWS_ENDPOINT_URL``, ``AWS_PROFILE``, ``GOOGLE_APPLICATION_CREDENTIALS``...),
which botocore and the Google libraries read themselves.
"""

from __future__ import annotations

import datetime
import importlib.util
import io
import re
import uuid
from collections.abc import Mapping
from typing import IO, Any

from ingest.contract.options import is_url

__all__ = ["RemoteFolder", "check_available", "install_hint", "is_url", "mtime_of"]

#: URL scheme -> the extra that installs its filesystem.
EXTRAS: dict[str, str] = {"s3": "s3", "s3a": "s3", "gs": "gcs", "gcs": "gcs"}

#: Buffer of a file read from a URL (the filesystem reads ahead in larger blocks itself).
READ_BUFFER_BYTES = 1 << 20

_PROTOCOLS = re.compile(r"([A-Za-z][A-Za-z0-9+.-]+)(?=://|::)")


def install_hint(url: str) -> str:
    """What to install for ``url``: ``pip install 'ingest[s3]'`` for ``s3://``,
    ``'ingest[gcs]'`` for ``gs://``, else ``'ingest[fsspec]'`` (fsspec alone:
    ``memory://``, and filesystems whose packages are installed separately)."""
    for protocol in _PROTOCOLS.findall(url):
        extra = EXTRAS.get(protocol.lower())
        if extra is not None:
            return f"pip install 'ingest[{extra}]'"
    return "pip install 'ingest[fsspec]'"


def check_available(url: str, option: str = "path") -> None:
    """Raise ``ValueError`` naming ``option`` and what to install when the
    packages that ``url`` needs are missing (fsspec, or the filesystem's own
    package: s3fs, gcsfs). Imports nothing heavy when they are there."""
    if importlib.util.find_spec("fsspec") is None:
        raise ValueError(
            f"{option}: {url!r} is a URL, and reading or writing URLs needs fsspec "
            f"(and s3fs for s3://, gcsfs for gs://): {install_hint(url)}"
        )
    import fsspec

    for protocol in _PROTOCOLS.findall(url):
        try:
            fsspec.get_filesystem_class(protocol)
        except ImportError as exc:
            raise ValueError(f"{option}: {url!r}: {exc}; {install_hint(url)}") from None
        except ValueError:
            raise ValueError(f"{option}: {url!r}: fsspec knows no protocol {protocol!r}") from None


def mtime_of(info: Mapping[str, Any]) -> float | None:
    """A file's modification time (POSIX seconds) from an fsspec ``info``
    dict, whose key and type differ by filesystem (s3: ``LastModified``, a
    datetime; gcs: ``updated``, a string; local: ``mtime``, a number;
    memory: ``created``); None when it has none."""
    for key in ("mtime", "LastModified", "last_modified", "updated", "created"):
        value = info.get(key)
        if value is None:
            continue
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            try:
                value = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                continue
        if isinstance(value, datetime.datetime):
            if value.tzinfo is None:
                value = value.replace(tzinfo=datetime.timezone.utc)
            return value.timestamp()
    return None


class RemoteFolder:
    """A folder (a key prefix, for object stores) or a single file at a URL.

    Names below it are relative POSIX paths (``2025/07/a.txt``); their URLs
    are the folder's URL as written plus ``/`` and the name, so ids and
    origins read the way the user wrote the path.
    """

    def __init__(self, url: str, storage_options: Mapping[str, Any] | None = None) -> None:
        check_available(url)
        import fsspec

        self.url = url.rstrip("/") if not url.endswith("://") else url
        self.fs, root = fsspec.core.url_to_fs(url, **dict(storage_options or {}))
        self.root: str = root.rstrip("/") or root
        self._prefix = self.root if self.root.endswith("/") else self.root + "/"

    # -- names -------------------------------------------------------------

    def url_of(self, name: str) -> str:
        """The URL of ``name`` (a relative path) below the folder."""
        return self.url if not name else f"{self.url.rstrip('/')}/{name}"

    def path_of(self, name: str) -> str:
        """``name`` as a path of the fsspec filesystem."""
        return self.root if not name else self._prefix + name

    def path_of_url(self, url: str) -> str:
        """The filesystem path of a URL made by :meth:`url_of`."""
        if url == self.url:
            return self.root
        return self.path_of(url[len(self.url.rstrip("/")) + 1 :])

    # -- reading -----------------------------------------------------------

    def exists(self) -> bool:
        """Whether the folder (any object under the prefix) or file exists."""
        return bool(self.fs.exists(self.root))

    def is_file(self) -> bool:
        return bool(self.fs.isfile(self.root))

    def list_files(self) -> list[str]:
        """Relative POSIX paths of every file below the folder, at any depth,
        sorted (folder markers, keys ending in ``/``, are not files)."""
        found = self.fs.find(self.root, withdirs=False)
        prefix = self._prefix
        return sorted(
            path[len(prefix) :] for path in found if path.startswith(prefix) and not path.endswith("/")
        )

    def open_input(self, url: str) -> tuple[IO[bytes], int | None, float | None]:
        """Open the file at ``url`` (see :meth:`url_of`) for reading: the file,
        its size and modification time when the filesystem says. Any error is
        an ``OSError`` (a missing object, no permission, a network failure), so
        the sources record the input as ``unreadable`` and go on."""
        path = self.path_of_url(url)
        try:
            raw: IO[bytes] = self.fs.open(path, "rb")
        except OSError:
            raise
        except Exception as exc:  # filesystem libraries raise their own errors
            raise OSError(f"{type(exc).__name__}: {exc}") from exc
        if not isinstance(raw, io.BufferedIOBase):
            # fsspec's buffered files have no readline(limit), which line
            # reading with a max_bytes limit needs; io's buffer adds it.
            raw = io.BufferedReader(raw, buffer_size=READ_BUFFER_BYTES)  # type: ignore[arg-type]
        info: Mapping[str, Any] | None = getattr(raw.raw, "details", None) if hasattr(raw, "raw") else None
        # s3fs and gcsfs files know their size and time: no second request
        if not isinstance(info, Mapping):
            try:
                info = self.fs.info(path)
            except Exception:  # noqa: BLE001 - size and time are hints; the read says what is wrong
                info = {}
        size = info.get("size")
        return raw, size if isinstance(size, int) else None, mtime_of(info)

    def read_bytes(self, name: str) -> bytes | None:
        """The whole file ``name``; None when it does not exist."""
        try:
            data: bytes = self.fs.cat_file(self.path_of(name))
        except FileNotFoundError:
            return None
        return data

    def names(self) -> list[str]:
        """Names of the files directly in the folder (none when it is missing)."""
        try:
            entries = self.fs.ls(self.root, detail=True)
        except FileNotFoundError:
            return []
        prefix = self._prefix
        return [
            entry["name"][len(prefix) :]
            for entry in entries
            if entry.get("type") == "file" and entry["name"].startswith(prefix)
        ]

    # -- writing -----------------------------------------------------------

    def put_file(self, local: str, name: str) -> None:
        """Upload the local file ``local`` as ``name``. On an object store the
        object appears whole when the upload completes, never in part."""
        self.fs.put_file(local, self.path_of(name))

    def check_writable(self) -> None:
        """Write and delete an empty hidden file in the folder, so that a run
        that could not write its output fails before doing any work."""
        probe = f".ingest-write-check-{uuid.uuid4().hex}"
        self.fs.pipe_file(self.path_of(probe), b"")
        self.remove(probe)

    def remove(self, name: str) -> None:
        """Delete the file ``name`` if it exists."""
        try:
            self.fs.rm_file(self.path_of(name))
        except FileNotFoundError:
            pass
