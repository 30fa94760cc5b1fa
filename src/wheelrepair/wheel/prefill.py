"""A copy of the input wheel made in the output directory while the wheel is being analysed.

The scan keeps both cores busy inflating binaries, so the copy is made in the meantime, on a thread
that spends its time in system calls (no GIL), in the place the output will be written. The writer
then adopts the file: every unchanged member whose place in the output is its place in the input is
already there, and only what differs is written over it (torch: 0.2 s of copying and flushing 190 MB
leave the time a repair takes after its analysis).

The bytes go to the disk directly (``O_DIRECT``), written from a mapping of the input's own pages,
not through the page cache. A kernel copy (``os.copy_file_range``) looks free but is not: it fills
190 MB of new page cache, and on this 2-core VM that cost 0.30-0.55 s of system CPU for torch's
wheel (0.06 s into pages just freed), taken from the scan's workers. Written direct through a
buffer it cost 0.04-0.07 s of CPU; from the mapping, 0.03 s; either way its data is on the disk
when the copy ends. Where the file system refuses ``O_DIRECT`` (or the platform has none) the
kernel copy is used instead.

Best effort and Linux only: any failure just leaves the writer to do it all, as without a prefill.
The copy is made at the input's own offsets, so it holds exactly the input's bytes up to
``Prefill.take``'s answer.
"""

from __future__ import annotations

import contextlib
import errno
import mmap
import os
import tempfile
import threading
from pathlib import Path

#: Wheels smaller than this are not worth a thread and a second file (the writer copies them in
#: milliseconds). A module constant so tests can prefill small wheels.
MIN_SIZE = 16 << 20
#: Nor are wheels larger than this: their copy outlasts the analysis (the writer finishes it, the
#: final flush waits for all of it anyway), and where the output leaves the input's offsets early,
#: the gigabytes copied past that point are rewritten at once, on pages still being flushed.
#: Measured on a 4.3 GB wheel whose edited extension grew: 0.9 s slower with a prefill (three runs
#: each, alternated), and no faster when it only needed a new tag.
MAX_SIZE = 1 << 30
#: The copy stops within this many bytes once the writer takes the file over; also the size of
#: the window of the input a direct copy maps at a time.
_STEP = 4 << 20
#: What direct I/O needs offsets and lengths to be multiples of (the largest logical block size
#: in use; 512-byte devices accept it too).
_ALIGN = 4096


class Prefill:
    """The copy under way: ``take`` hands the file to the writer, ``discard`` throws it away.
    Exactly one of the two must be called (``discard`` after ``take`` does nothing)."""

    def __init__(self, source_fd: int, size: int, fd: int, path: Path) -> None:
        self.path = path
        self._source_fd = source_fd
        self._size = size
        self._fd = fd
        self._copied = 0
        self._stop = threading.Event()
        #: Set once the copy has stopped: done, failed or told to stop (tests wait for it).
        self.stopped = threading.Event()
        self._owned = True
        self._thread = threading.Thread(target=self._run, name="wheelrepair-prefill", daemon=True)
        self._thread.start()

    @classmethod
    def start(cls, source_fd: int, size: int, directory: Path) -> Prefill | None:
        """Begin copying the ``size`` bytes of ``source_fd`` into a new file in ``directory``; None
        where it cannot help (no kernel copy on this system, a small or a huge wheel, the
        directory refuses)."""
        if not MIN_SIZE <= size <= MAX_SIZE or not hasattr(os, "copy_file_range"):
            return None
        try:
            fd, name = tempfile.mkstemp(prefix=".prefill-", suffix=".part", dir=directory)
        except OSError:
            return None
        return cls(source_fd, size, fd, Path(name))

    def take(self) -> tuple[int, int]:
        """Stop copying and hand over the file: (its descriptor, how many leading bytes of it are
        the input's). From here on the caller owns the descriptor and the file; (-1, 0) if the
        copy failed, in which case the file is already gone."""
        self._stop.set()
        self.stopped.wait()
        self._owned = False
        if self._fd < 0:
            return -1, 0
        # The flush to disk that may still run on the thread keeps its own reference to the file.
        return self._fd, self._copied

    def discard(self) -> None:
        """Stop copying and remove the file (nothing happens if it was taken). A flush to disk under
        way is not waited for: it holds its own reference to the file."""
        if not self._owned:
            return
        self._owned = False
        self._stop.set()
        self.stopped.wait()
        self._close_and_remove()

    def _run(self) -> None:
        try:
            complete = self._copy()
        except OSError:
            # Not supported between these file systems, out of space, ...: no prefill.
            self._close_and_remove()
            return
        finally:
            # Also on an unforeseen error: ``take`` waits for it, and what was copied stands.
            self.stopped.set()
        if complete:
            # The flush the final fsync would otherwise wait for, while the analysis goes on.
            with contextlib.suppress(OSError):
                os.fdatasync(self._fd)

    def _copy(self) -> bool:
        """Copy until done, stopped or the input ends early; True if all of it was copied."""
        offset, fd = 0, self._fd
        direct = _DirectWriter.open(self.path)
        try:
            while offset < self._size and not self._stop.is_set():
                count = min(_STEP, self._size - offset)
                refused = direct is None
                if direct is not None:
                    copied = direct.copy(self._source_fd, fd, count, offset)
                    if direct.failed:
                        refused = copied == 0
                        direct.close()
                        direct = None
                if refused:
                    copied = os.copy_file_range(self._source_fd, fd, count, offset, offset)
                if copied == 0:
                    break  # the input is shorter than it was: the writer finds out on its own
                offset += copied
                self._copied = offset
        finally:
            if direct is not None:
                direct.close()
        return offset >= self._size

    def _close_and_remove(self) -> None:
        fd, self._fd = self._fd, -1
        if fd >= 0:
            with contextlib.suppress(OSError):
                os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(self.path)


class _DirectWriter:
    """Writes the input's bytes to a second descriptor of the file opened with ``O_DIRECT``,
    straight from the input's own pages: each step maps its window of the input and hands the
    mapping to the write, so the device reads the page cache and no copy into a buffer of ours is
    made (torch's 190 MB: 0.027-0.032 s of system CPU against 0.041-0.070 s through a buffer,
    three runs each; one window mapped at a time, so the resident memory stays one step).
    Whole blocks go direct; a last partial block (the end of the wheel, or an input that has
    shrunk) goes through the page cache on the main descriptor, after which this writer is spent
    (``failed``), as it is when the device refuses a direct write: the caller goes on with kernel
    copies."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self.failed = False

    @classmethod
    def open(cls, path: Path) -> _DirectWriter | None:
        flag = getattr(os, "O_DIRECT", 0)
        if not flag:
            return None
        try:
            return cls(os.open(path, os.O_WRONLY | flag))
        except OSError:
            return None  # a file system without direct I/O (EINVAL)

    def copy(self, source_fd: int, fd: int, count: int, offset: int) -> int:
        """Copy up to ``count`` bytes at ``offset`` (a multiple of the page size); how many were
        copied (0 once ``failed``)."""
        whole = count - count % _ALIGN
        if whole:
            try:
                window = mmap.mmap(source_fd, whole, prot=mmap.PROT_READ, offset=offset)
                with window, memoryview(window) as view:
                    written = os.pwritev(self._fd, [view], offset)
            except ValueError:
                # The input ends inside the window (mmap says so): the read below says where.
                whole = written = 0
            except OSError as err:
                if err.errno == errno.EFAULT:
                    whole = written = 0  # it ended while the write read the mapping
                elif err.errno in (errno.EINVAL, errno.ENODEV, errno.EACCES):
                    self.failed = True  # an alignment or a mapping this system will not take
                    return 0
                else:
                    raise
            if written < whole:
                return written
        if whole < count:
            data = os.pread(source_fd, count - whole, offset + whole)
            os.pwrite(fd, data, offset + whole)
            self.failed = True
            return whole + len(data)
        return whole

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._fd)
