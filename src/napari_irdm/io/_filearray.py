"""A read-only 3-D array on a file, read with ordinary reads (no memory map).

Memory-mapped reads die of SIGBUS when another process truncates the file, and a header
that claims a huge file cannot even be mapped under an address-space cap. A
:class:`FileArray` reads only the images an index asks for, checks that every read got
all its bytes, and raises a one-line ``ValueError`` naming the file when it did not.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

__all__ = ["FileArray", "FileChangedError"]


class FileChangedError(ValueError):
    """The file got shorter (truncated, replaced) while it was being read."""


class FileArray:
    """Lazy ``(n, ny, nx)`` array of ``dtype`` stored C-ordered at ``offset`` in ``path``.

    Supports ``len``, ``shape``, ``dtype``, ``ndim``, ``size``, ``nbytes``, indexing (the
    first index selects whole images, read from the file; the rest is applied in memory)
    and ``np.asarray``.
    """

    def __init__(self, path: str | os.PathLike, dtype, shape: tuple[int, ...], offset: int):
        self.path = Path(path)
        self.dtype = np.dtype(dtype)
        self.shape = tuple(int(s) for s in shape)
        self.offset = int(offset)
        self._image_bytes = int(np.prod(self.shape[1:], dtype=np.int64)) * self.dtype.itemsize

    # -- array-like attributes
    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        return f"FileArray({str(self.path)!r}, {self.dtype.name}, shape={self.shape})"

    # -- reading
    def _read(self, start: int, stop: int) -> np.ndarray:
        """Images ``start:stop`` (contiguous) as an ndarray."""
        count = max(0, stop - start)
        shape = (count,) + self.shape[1:]
        if count == 0:
            return np.empty(shape, dtype=self.dtype)
        nbytes = count * self._image_bytes
        out = np.empty(shape, dtype=self.dtype)
        buf = memoryview(out.reshape(-1).view(np.uint8))  # type: ignore[arg-type]  # ndarray is a buffer
        got = 0
        try:
            with open(self.path, "rb", buffering=0) as fh:
                fh.seek(self.offset + start * self._image_bytes)
                while got < nbytes:
                    n = fh.readinto(buf[got:])
                    if not n:
                        break
                    got += n
        except FileNotFoundError:
            raise FileChangedError(f"{self.path} disappeared while being read: check that no other program "
                                   "moves or rewrites it") from None
        if got < nbytes:
            raise FileChangedError(
                f"{self.path} is truncated: it got shorter while being read (image {start + got // self._image_bytes}"
                f" of {self.shape[0]} is incomplete); let the program writing it finish, or re-copy the file"
            )
        return out

    def __getitem__(self, key):
        if not isinstance(key, tuple):
            key = (key,)
        if any(k is Ellipsis for k in key):
            i = key.index(Ellipsis)
            fill = self.ndim - (len(key) - 1)
            key = key[:i] + (slice(None),) * fill + key[i + 1:]
        first, rest = (key[0] if key else slice(None)), key[1:]
        n = self.shape[0]
        if isinstance(first, (int, np.integer)):
            i = int(first)
            if i < 0:
                i += n
            if not 0 <= i < n:
                raise IndexError(f"index {first} is out of range for {n} images")
            arr = self._read(i, i + 1)[0]
            return arr[rest] if rest else arr
        if isinstance(first, slice):
            start, stop, step = first.indices(n)
            if step == 1:
                arr = self._read(start, stop)
            elif step > 1 and (stop - start) > 0:
                idx = range(start, stop, step)
                arr = np.stack([self._read(i, i + 1)[0] for i in idx]) if len(idx) else self._read(0, 0)
            else:
                arr = np.asarray(self)[first]
            return arr[(slice(None),) + rest] if rest else arr
        idx = np.asarray(first)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        arr = np.stack([self._read(int(i) % n, int(i) % n + 1)[0] for i in idx.ravel()])
        return arr[(slice(None),) + rest] if rest else arr

    def __array__(self, dtype=None, copy=None):
        arr = self._read(0, self.shape[0])
        return arr if dtype is None else arr.astype(dtype, copy=False)
