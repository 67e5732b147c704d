"""Inputs named by URI as well as by path: ``s3://``, ``gs://``, ``hdfs://``, ``file://`` read with
PyArrow's file systems (``pyarrow`` comes with ``xmer[media]``), so batch prediction and analysis take
files wherever they live. A remote file is copied into a temporary folder for the time it is read.
"""

from __future__ import annotations

import re
import tempfile
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Iterator

from xmer.errors import DataError

_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+://")


def is_uri(value: object) -> bool:
    """Whether ``value`` is a URI with a scheme (``s3://b/k.wav``, ``file:///data/a.mp4``), not a path."""
    return isinstance(value, str) and _URI.match(value) is not None


@contextmanager
def local_copy(location: str | Path) -> Iterator[Path]:
    """A local path to the file at ``location``: a path as it is; a URI read with PyArrow's file
    systems (``file://`` in place; ``s3://``, ``gs://``, ``hdfs://`` copied into a temporary folder
    that is removed afterwards).

    Raises:
        DataError: the URI cannot be opened or read, or pyarrow is not installed.
    """
    if not is_uri(location):
        yield Path(location)
        return
    uri = str(location)
    try:
        from pyarrow import fs
    except ImportError:
        raise DataError(f"{uri}: reading URIs needs pyarrow (pip install 'xmer[media]')") from None
    try:
        filesystem, inner = fs.FileSystem.from_uri(uri)
    except (ValueError, OSError) as error:
        raise DataError(f"{uri}: cannot open ({error})") from None
    if isinstance(filesystem, fs.LocalFileSystem):
        yield Path(inner)
        return
    with tempfile.TemporaryDirectory(prefix="xmer-uri-") as folder:
        local = Path(folder) / (PurePosixPath(inner).name or "input")
        copy_from(filesystem, inner, local, uri)
        yield local


def copy_from(filesystem, inner: str, local: Path, uri: str) -> None:
    """Copy file ``inner`` of a ``pyarrow.fs`` file system to ``local`` (DataError naming ``uri`` if it fails)."""
    try:
        with filesystem.open_input_stream(inner) as source, open(local, "wb") as target:
            while chunk := source.read(1 << 20):
                target.write(chunk)
    except (OSError, ValueError) as error:
        raise DataError(f"cannot read {uri}: {error}") from None
