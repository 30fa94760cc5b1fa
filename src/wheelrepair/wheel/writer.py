"""Writing a wheel: raw copy of unchanged members, new and replaced members, RECORD, atomic rename.

Output is a pure function of the inputs (and SOURCE_DATE_EPOCH):

- unchanged members keep their compressed bytes, timestamp and mode; their local header is rebuilt
  from the central directory (no data descriptor, no extra fields except zip64 when needed);
- replaced members keep their position, mode and timestamp; one compressed ahead that starts at its
  old offset and comes out smaller is padded to end where it ended (a local extra field), so the
  members after it keep their offsets too; added members follow, sorted by name,
  with ``NEW_MEMBER_MODE`` (unless ``modes`` says otherwise) and the date 1980-01-01 00:00:00;
- the dist-info WHEEL and a regenerated RECORD come last;
- when SOURCE_DATE_EPOCH is set, every member of the output carries that date instead (as auditwheel
  does): members copied raw get it in their rebuilt headers, their compressed bytes stay as they are;
- members written anew are deflated at ``level`` (0 = stored) in chunks on all cores
  (see ``compression``), their local header patched once their sizes are known; a member handed
  over as ``Deflated`` was compressed (and hashed) ahead, on a ``DeflateAhead`` pool, while the
  caller was still preparing the rest;
- a stretch of plain members (``zipdir.plain_local``: already written the way this writer writes
  them) that keep their offsets is copied as one span, with their records as one slice of the
  source's central directory;
- the output may be written over a ``Prefill`` (a copy of the source at its own offsets): what is
  already in place is not copied again, and the bytes come out the same;
- the central directory, the end records, WHEEL and RECORD are read back from the file once written.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import os
import stat
import struct
import tempfile
import threading
import time
import zipfile
import zlib
from collections import deque
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple, Optional, TypeVar, Union

from wheelrepair import progress
from wheelrepair.errors import InvalidWheel, OutputError, UsageError
from wheelrepair.wheel import compression
from wheelrepair.wheel.archive import CHUNK_SIZE, WheelArchive, parent_dirs, unsafe_member_name
from wheelrepair.wheel.metadata import (
    SIGNATURE_FILES,
    encode_digest,
    format_record,
    rewrite_wheel_file,
    unquoted_record_lines,
)
from wheelrepair.wheel.prefill import Prefill
from wheelrepair.wheel.zipdir import MemberInfo

#: Deflate level for members compressed anew (kept for callers that name it).
COMPRESS_LEVEL = compression.DEFAULT_LEVEL
#: Compression threads at most: more cores would only multiply the memory held in flight.
MAX_THREADS = 8
#: A large member compressed ahead is cut after 1/HEAD_SHARE of it (see ``DeflateAhead.deflate``).
HEAD_SHARE = 5
#: Mode of added members (they are usually vendored shared libraries); override per member with ``modes``.
NEW_MEMBER_MODE = 0o755
#: Permissions of the written wheel file.
OUTPUT_MODE = 0o644
#: Timestamp of added members when SOURCE_DATE_EPOCH is not set: the earliest a zip can store.
DEFAULT_DATE = (1980, 1, 1, 0, 0, 0)

Content = Union[bytes, "os.PathLike[str]", "Deflated"]

_T = TypeVar("_T")
_EMPTY_CONTENT: Mapping[str, Content] = MappingProxyType({})
_EMPTY_MODES: Mapping[str, int] = MappingProxyType({})

#: Values at or above these need zip64 records (module constants so tests can force zip64 cheaply).
ZIP64_LIMIT = 0xFFFFFFFF
ZIP64_COUNT_LIMIT = 0xFFFF
#: What a 32-bit (16-bit) field holds when the real value is in the zip64 record.
_SENTINEL32 = 0xFFFFFFFF
_SENTINEL16 = 0xFFFF
_LOCAL = struct.Struct("<4sHHHHHIIIHH")
_CENTRAL = struct.Struct("<4sBBHHHHHIIIHHHHHII")
_END = struct.Struct("<4sHHHHIIH")
_ZIP64_LOCAL = struct.Struct("<HHQQ")
_END64 = struct.Struct("<4sQBBHIIQQQQ")
_LOCATOR64 = struct.Struct("<4sIQI")
#: Header ID, data length, alignment: the start of a padding extra field (see ``_padding``).
_PADDING = struct.Struct("<HHH")
_PADDING_ID = 0xD935
_UNIX = 3
_FLAG_UTF8 = 0x800
#: General-purpose flag bits that describe the compressed data itself (deflate level, LZMA EOS marker).
_FLAG_DATA_BITS = 0x6
#: Members smaller than this are copied through the write buffer rather than in the kernel.
_SMALL_COPY = 256 * 1024
#: Consecutive unchanged members are copied in spans of about this size, each starting as soon as
#: it is complete (torch: 12 kernel copies, the first after 2% of the entries are built).
_SPAN = 16 << 20
_METHOD_VERSION = {
    zipfile.ZIP_STORED: 20,
    zipfile.ZIP_DEFLATED: 20,
    zipfile.ZIP_BZIP2: 46,
    zipfile.ZIP_LZMA: 63,
}


@dataclass
class _Entry:
    """One central directory record, collected while its member is written."""

    name: bytes
    flags: int
    method: int
    date_time: tuple[int, int, int, int, int, int]
    crc: int
    compress_size: int
    file_size: int
    offset: int
    create_system: int
    external_attr: int
    internal_attr: int = 0


class _Output:
    """Writer over a raw file descriptor with its own buffer and explicit offsets, so that in-kernel
    copies (copy_file_range), header patches and ordinary writes mix in any order. Large copies run
    on a thread of their own (the kernel copy releases the GIL) while the caller goes on building
    the entries that follow: torch's 190 MB of unchanged members cost ~0.1 s of kernel time that
    the 12,000 entries' Python work used to wait behind. ``join`` waits for them and raises the
    first error; nothing may be closed or renamed before it returns."""

    def __init__(self, fd: int, in_place: int = 0) -> None:
        self.fd = fd
        #: Where the next byte goes: everything before it is written, buffered or being copied.
        self.pos = 0
        #: The file's first ``in_place`` bytes are the source's at the same offsets (a ``Prefill``):
        #: a copy of source bytes to their own offset there is already done.
        self.in_place = in_place
        self._flushed = 0
        self._buffer = bytearray()
        self._kernel_copy = hasattr(os, "copy_file_range")
        self._copier: ThreadPoolExecutor | None = None
        self._copies: list[Future[None]] = []
        self._abandoned = False

    def write(self, data: bytes) -> None:
        if len(data) >= CHUNK_SIZE:
            self.flush()
            self._write_all(data, self.pos)
            self.pos += len(data)
            self._flushed = self.pos
        else:
            self.pos += len(data)
            self._buffer += data
            if len(self._buffer) >= CHUNK_SIZE:
                self.flush()

    def flush(self) -> None:
        if self._buffer:
            self._write_all(self._buffer, self._flushed)
            self._buffer.clear()
        self._flushed = self.pos

    def _write_all(self, data: bytes | bytearray, offset: int) -> None:
        view = memoryview(data)
        while view:
            written = os.pwrite(self.fd, view, offset)
            view, offset = view[written:], offset + written

    def patch(self, offset: int, data: bytes) -> None:
        self.flush()
        os.pwrite(self.fd, data, offset)

    def copy(self, src_fd: int, offset: int, length: int, short: Callable[[], Exception]) -> None:
        """Append ``length`` bytes of ``src_fd`` from ``offset``; if the source ends early, the
        error ``short()`` is raised, here or by ``join``."""
        done = self._already_there(offset, self.pos, length)
        if done:
            self.reserve(done)
            offset, length = offset + done, length - done
            if not length:
                return
        if length < _SMALL_COPY:
            # Small members: one read into the write buffer beats a flush plus a kernel copy.
            data = os.pread(src_fd, length, offset)
            self.write(data)
            if len(data) != length:
                raise short()
            return
        self.flush()
        if self._copier is None:
            self._copier = ThreadPoolExecutor(max_workers=1)
        self._copies.append(self._copier.submit(self._copy_span, src_fd, offset, self.pos, length, short))
        self.pos += length
        self._flushed = self.pos

    def reserve(self, length: int) -> None:
        """Skip ``length`` bytes that a copy already running fills (see ``_EarlyCopies``)."""
        self.flush()
        self.pos += length
        self._flushed = self.pos

    def on_copier(self, work: Callable[[], None]) -> None:
        """Run ``work`` on the copying thread, before the copies queued after it."""
        if self._copier is None:
            self._copier = ThreadPoolExecutor(max_workers=1)
        self._copies.append(self._copier.submit(work))

    def copy_at(self, src_fd: int, offset: int, dest: int, length: int, short: Callable[[], Exception]) -> None:
        """Copy ``length`` bytes of ``src_fd`` to ``dest`` now (on the copying thread)."""
        done = self._already_there(offset, dest, length)
        self._copy_span(src_fd, offset + done, dest + done, length - done, short)

    def _already_there(self, offset: int, dest: int, length: int) -> int:
        """How many leading bytes of a copy from ``offset`` to ``dest`` the prefill holds already."""
        if offset != dest or offset >= self.in_place:
            return 0
        return min(length, self.in_place - offset)

    def join(self) -> None:
        """Wait for every copy; raise the first error (after all have stopped)."""
        if self._copier is None:
            return
        self._copier.shutdown(wait=True)
        self._copier = None
        copies, self._copies = self._copies, []
        for done in copies:
            done.result()

    def abandon(self) -> None:
        """Stop copying (the output is being thrown away): cancel what has not started, wait for
        the rest, ignore their errors."""
        self._abandoned = True  # a copy under way stops at its next 64 MiB (a 4 GB member: ~3 s)
        if self._copier is not None:
            self._copier.shutdown(wait=True, cancel_futures=True)
            self._copier = None
        self._copies = []

    def _copy_span(self, src_fd: int, offset: int, dest: int, length: int, short: Callable[[], Exception]) -> None:
        end = offset + length
        while offset < end and not self._abandoned:
            copied = self._copy_chunk(src_fd, offset, dest, min(end - offset, 64 * CHUNK_SIZE))
            if copied == 0:
                raise short()
            offset += copied
            dest += copied

    def _copy_chunk(self, src_fd: int, offset: int, dest: int, count: int) -> int:
        if self._kernel_copy:
            try:
                return os.copy_file_range(src_fd, self.fd, count, offset, dest)
            except OSError as err:
                if err.errno not in (errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL, errno.EPERM):
                    raise
                self._kernel_copy = False
        data = os.pread(src_fd, min(count, CHUNK_SIZE), offset)
        self._write_all(data, dest)
        return len(data)


def write_wheel(
    source: WheelArchive,
    dest: str | os.PathLike[str],
    *,
    replace: Mapping[str, Content] = _EMPTY_CONTENT,
    add: Mapping[str, Content] = _EMPTY_CONTENT,
    remove: Collection[str] = (),
    wheel_tags: Sequence[str] | None = None,
    modes: Mapping[str, int] = _EMPTY_MODES,
    level: int = compression.DEFAULT_LEVEL,
    sync: bool = True,
    prefill: Prefill | None = None,
) -> Path:
    """Write ``source`` with the given changes to ``dest`` (a full ``.whl`` path whose directory exists)
    atomically; return ``dest``. ``replace``/``add`` values are bytes or a file to stream from;
    ``wheel_tags`` replaces the WHEEL Tag lines; ``modes`` sets permission bits of added members;
    ``level`` is the deflate level (0-9, 0 = stored) of the members written anew. ``sync=False``
    leaves flushing to disk to the caller (``sync_file``), who renames ``dest`` again later and
    may overlap the wait with other work. ``prefill``, a copy of the source made in ``dest``'s
    directory, becomes the output: what already stands at its place there is not written again.
    The output is the same with or without it."""
    dest = Path(dest)
    meta = source.metadata
    try:
        _check_request(source, dest, replace, add, remove, wheel_tags, modes)
        if not 0 <= level <= 9:
            raise UsageError(f"zip compression level {level} is not between 0 (stored) and 9")
        epoch_date = _source_date_epoch()
        fd, in_place, temp_name = _output_file(dest, prefill)
    except BaseException:
        if prefill is not None:
            prefill.discard()
        raise
    managed = {meta.record_path, meta.wheel_path, *(f"{meta.dist_info}/{s}" for s in SIGNATURE_FILES)}

    pipeline = _Pipeline(_workers())
    bar = progress.start(f"writing {dest.name}", _work(source, replace, add, remove))
    out = _Output(fd, in_place)
    try:
        entries: list[_Entry | bytes | _Records] = []
        # RECORD as written: rows of the members written anew, and the lines of each run of
        # unchanged members formatted at once (see ``_record_lines``).
        rows: list[_Row | str] = []
        record = source.record()

        order = [m for m in source.members if m not in managed and m not in remove]
        raw = _RawCopier(out, source, epoch_date, _EarlyCopies(out, source, order, replace, level))

        # Members compressed ahead: their RECORD hash is filled in once their task is done.
        ahead: list[tuple[int, Deflated]] = []

        def write_new(
            member: str, content: Content, external_attr: int, create_system: int, date: tuple[int, ...]
        ) -> None:
            pipeline.then(raw.flush)
            if isinstance(content, Deflated):
                if content.level != level:
                    raise ValueError(f"{member!r} was compressed at level {content.level}, not {level}")
                size = _queue_deflated(
                    pipeline, out, entries, member, content, external_attr, create_system, date, source
                )
                ahead.append((len(rows), content))
                rows.append((member, None, size))
            else:
                digest, size = _queue_new(
                    pipeline, out, entries, member, content, external_attr, create_system, date, level
                )
                rows.append((member, digest, size))
            pipeline.then(lambda: bar.advance(size))

        def write_raw(members: Sequence[str]) -> None:
            if not members:
                return
            known = source.sizes
            sizes = [known[m] for m in members]

            def copy() -> None:
                entries.extend(raw.add_run(members))
                bar.advance(sum(sizes))

            pipeline.then(copy)
            rows.extend(_record_lines(members, sizes, record))

        run: list[str] = []  # unchanged members in a row: copied by one call
        for member in source.members:
            if member in managed or member in remove:
                continue
            if member in replace:
                write_raw(run)
                run = []
                info = source.zipinfo(member)
                write_new(
                    member,
                    replace[member],
                    info.external_attr,
                    info.create_system,
                    epoch_date or info.date_time,
                )
            else:
                run.append(member)
        write_raw(run)
        for member in sorted(add):
            mode = modes.get(member, NEW_MEMBER_MODE)
            write_new(member, add[member], (stat.S_IFREG | mode) << 16, _UNIX, epoch_date or DEFAULT_DATE)
        _test_pause(out)
        wheel_info = source.zipinfo(meta.wheel_path)
        wheel_date = epoch_date or wheel_info.date_time
        # Members read back once written (see ``_read_back``): what says what the wheel is.
        described: dict[str, bytes] = {}
        if wheel_tags is not None:
            text = rewrite_wheel_file(source.read(meta.wheel_path).decode("utf-8"), wheel_tags)
            described[meta.wheel_path] = text.encode("utf-8")
            write_new(
                meta.wheel_path,
                described[meta.wheel_path],
                wheel_info.external_attr,
                wheel_info.create_system,
                wheel_date,
            )
        elif meta.wheel_path in replace:
            content = replace[meta.wheel_path]
            write_new(
                meta.wheel_path, content, wheel_info.external_attr, wheel_info.create_system, wheel_date
            )
        else:
            write_raw([meta.wheel_path])
        record_info = source.zipinfo(meta.record_path)
        for index, deflated in ahead:
            row = rows[index]
            assert not isinstance(row, str)  # a member written anew has a row of its own
            rows[index] = (row[0], deflated.record_digest(), row[2])
        rows.append((meta.record_path, None, None))
        described[meta.record_path] = _record_text(rows)
        write_new(
            meta.record_path,
            described[meta.record_path],
            record_info.external_attr,
            record_info.create_system,
            epoch_date or record_info.date_time,
        )
        pipeline.drain()
        pipeline.close()
        raw.flush()
        bar.finish()
        directory = _write_central_directory(out, entries)
        out.flush()
        out.join()
        if in_place:
            os.ftruncate(fd, out.pos)  # the prefill may run past the output's end
        named = {name.encode("utf-8"): data for name, data in described.items()}
        _read_back(fd, directory, [(e, named[e.name]) for e in entries if isinstance(e, _Entry) and e.name in named], dest)
        os.fchmod(fd, OUTPUT_MODE)
        if sync:
            os.fsync(fd)
        os.close(fd)
        fd = -1
        os.replace(temp_name, dest)
    except BaseException:
        pipeline.close()
        out.abandon()
        bar.finish()
        if fd >= 0:
            os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(temp_name)
        raise
    if sync:
        _fsync_dir(dest.parent)
    return dest


#: A RECORD row: path, hash ("sha256=..." or None), size (None for RECORD itself).
_Row = tuple[str, Optional[str], Optional[int]]


def _record_lines(
    members: Sequence[str], sizes: Sequence[int], record: Mapping[str, tuple[str | None, int | None]]
) -> list[_Row | str]:
    """The RECORD rows of unchanged ``members`` (the input's hash, the size as stored): one text
    of lines where no row needs CSV quoting, which is the rule (torch's 12,000 rows: 4-6 ms
    instead of 11-13 ms as rows to format), else the rows themselves."""
    text = "".join([f"{m},{record[m][0] or ''},{size}\n" for m, size in zip(members, sizes)])
    if unquoted_record_lines(text, len(members)):
        return [text]
    return [(m, record[m][0], size) for m, size in zip(members, sizes)]


def _record_text(rows: Sequence[_Row | str]) -> bytes:
    """RECORD from rows and runs of lines formatted already (``_record_lines``), in order."""
    parts: list[str] = []
    pending: list[_Row] = []
    for row in rows:
        if isinstance(row, str):
            if pending:
                parts.append(format_record(pending).decode("utf-8"))
                pending = []
            parts.append(row)
        else:
            pending.append(row)
    if pending:
        parts.append(format_record(pending).decode("utf-8"))
    return "".join(parts).encode("utf-8")


def _read_back(fd: int, directory: tuple[int, bytes], members: Sequence[tuple[_Entry, bytes]], dest: Path) -> None:
    """Read the written file back where it says what it holds: the central directory and end
    records byte for byte (they must also end the file), and ``members`` (WHEEL, RECORD) through
    their local headers. This is what reopening the output would read, without parsing 12,000
    entries again; a mismatch means the file system did not keep what was written."""
    start, tail = directory
    problem = None
    if os.fstat(fd).st_size != start + len(tail) or os.pread(fd, len(tail), start) != tail:
        problem = "its central directory"
    for entry, expected in members:
        if problem is None and _member_read_back(fd, entry) != expected:
            problem = entry.name.decode()
    if problem is not None:
        raise OutputError(f"the written wheel does not read back as written ({problem})", subject=os.fspath(dest))


def _member_read_back(fd: int, entry: _Entry) -> bytes | None:
    """The data of ``entry`` as the written file gives it, or None if its local header disagrees."""
    header = os.pread(fd, _LOCAL.size + len(entry.name), entry.offset)
    if len(header) < _LOCAL.size:
        return None
    magic, _, flags, method, _, _, crc, _, _, name_len, extra_len = _LOCAL.unpack_from(header)
    fields = (magic, flags, method, crc, header[_LOCAL.size :])
    if fields != (b"PK\x03\x04", entry.flags, entry.method, entry.crc, entry.name):
        return None
    data = os.pread(fd, entry.compress_size, entry.offset + _LOCAL.size + name_len + extra_len)
    if method != zipfile.ZIP_DEFLATED:
        return data
    # The fastest inflater (ISA-L): torch's 1.3 MB RECORD took 4 ms through zlib's.
    state = compression.forward_inflater()
    try:
        content = state.decompress(data)
    except zlib.error:
        return None
    return content if state.eof and not state.unused_data else None


def _output_file(dest: Path, prefill: Prefill | None) -> tuple[int, int, str]:
    """The file the output is written to: (descriptor, leading bytes that are the source's, path)."""
    if prefill is not None:
        if prefill.path.parent == dest.parent:
            fd, in_place = prefill.take()
            if fd >= 0:
                return fd, in_place, os.fspath(prefill.path)
        else:
            prefill.discard()
    fd, temp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    return fd, 0, temp_name


#: Test-only: seconds to pause halfway through writing (members written, no central directory yet),
#: so tests can interrupt a write, fill the disk or remove the directory at a known point.
TEST_PAUSE_ENV = "WHEELREPAIR_TEST_WRITE_PAUSE"


def _test_pause(out: _Output) -> None:
    seconds = os.environ.get(TEST_PAUSE_ENV)
    if seconds:
        out.flush()
        out.join()
        time.sleep(float(seconds))


def sync_file(path: str | os.PathLike[str]) -> None:
    """Flush a file written with ``sync=False`` to disk (before it is renamed into place)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sync_dir(directory: str | os.PathLike[str]) -> None:
    """Make a rename into ``directory`` durable; best effort."""
    _fsync_dir(Path(directory))


def _check_request(
    source: WheelArchive,
    dest: Path,
    replace: Mapping[str, Content],
    add: Mapping[str, Content],
    remove: Collection[str],
    wheel_tags: Sequence[str] | None,
    modes: Mapping[str, int],
) -> None:
    """Refuse contradictory or unsafe requests before any byte is written."""
    meta = source.metadata
    if dest.exists() and os.path.samefile(dest, source.path):
        raise UsageError("refusing to overwrite the input wheel", subject=os.fspath(dest))
    present = set(source.members)
    managed = {meta.record_path, *(f"{meta.dist_info}/{s}" for s in SIGNATURE_FILES)}
    for member in replace:
        if member not in present:
            raise ValueError(f"cannot replace {member!r}: not in {meta.filename}")
    for member in remove:
        if member not in present or member == meta.wheel_path:
            raise ValueError(f"cannot remove {member!r} from {meta.filename}")
        if member in replace:
            raise ValueError(f"{member!r} is both replaced and removed")
    for member in add:
        reason = unsafe_member_name(member) or ("is a directory" if member.endswith("/") else None)
        if reason:
            raise ValueError(f"cannot add {member!r}: it {reason}")
        if member in present and member not in remove:
            raise ValueError(f"cannot add {member!r}: already in {meta.filename} (use replace)")
    if add:
        final = (present - set(remove)) | set(add)
        directories = {parent for name in final for parent in parent_dirs(name)}
        for member in add:
            clash = (
                member
                if member in directories
                else next((p for p in parent_dirs(member) if p in final), None)
            )
            if clash:
                raise ValueError(f"cannot add {member!r}: {clash!r} would be both a file and a directory")
    if managed & (set(replace) | set(add) | set(remove)):
        raise ValueError("RECORD and its signatures are regenerated, not replaced")
    if wheel_tags is not None:
        if meta.wheel_path in replace:
            raise ValueError("WHEEL is replaced and retagged at once")
        if not wheel_tags or any(len(t.split("-")) != 3 or "." in t for t in wheel_tags):
            raise ValueError(f"invalid WHEEL tags {list(wheel_tags)!r}")
    for member, mode in modes.items():
        if member not in add or not 0 <= mode <= 0o7777:
            raise ValueError(f"mode {mode!r} for {member!r}: only added members take a permission mode")


def _work(
    source: WheelArchive, replace: Mapping[str, Content], add: Mapping[str, Content], remove: Collection[str]
) -> int:
    """Uncompressed bytes the output will hold: the measure of the writer's progress."""
    kept = source.total_size - sum(source.size(m) for m in {*replace, *remove} if m in source.sizes)
    return kept + sum(_content_size(c) for c in (*replace.values(), *add.values()))


def _workers() -> int:
    return max(1, min(os.cpu_count() or 1, MAX_THREADS))


def _source_date_epoch() -> tuple[int, int, int, int, int, int] | None:
    value = os.environ.get("SOURCE_DATE_EPOCH")
    if value is None or not value.strip():
        return None
    try:
        seconds = int(value)
    except ValueError:
        raise UsageError(f"SOURCE_DATE_EPOCH={value!r} is not an integer number of seconds") from None
    # A zip can only store 1980-01-01 .. 2107-12-31, with even seconds.
    seconds = min(max(seconds, 315532800), 4354819198)
    moment = time.gmtime(seconds)
    return (moment.tm_year, moment.tm_mon, moment.tm_mday, moment.tm_hour, moment.tm_min, moment.tm_sec)


def _dos(date_time: Sequence[int]) -> tuple[int, int]:
    year, month, day, hour, minute, second = date_time[:6]
    return (hour << 11) | (minute << 5) | (second // 2), ((year - 1980) << 9) | (month << 5) | day


def _new_entry_zip64(size_hint: int) -> bool:
    """Whether a member written anew gets zip64 sizes: decided before compressing, from the input
    size, with room for deflate's worst-case growth."""
    return size_hint + size_hint // 16 + 65536 >= ZIP64_LIMIT


def _local_length(name: bytes, zip64: bool) -> int:
    """Length of the local header ``_local_bytes`` writes."""
    return _LOCAL.size + len(name) + (_ZIP64_LOCAL.size if zip64 else 0)


def _name_bytes(member: str) -> tuple[bytes, int]:
    encoded = member.encode("utf-8")
    return encoded, 0 if encoded.isascii() else _FLAG_UTF8


def _local_header(entry: _Entry, zip64: bool, padding: bytes = b"") -> bytes:
    time_, date = _dos(entry.date_time)
    header = _local_bytes(
        entry.name, entry.flags, entry.method, time_, date, entry.crc, entry.compress_size, entry.file_size, zip64
    )
    if not padding:
        return header
    # The extra field's length is the 16-bit word at offset 28; the padding follows what is there.
    extra = struct.unpack_from("<H", header, 28)[0] + len(padding)
    return header[:28] + struct.pack("<H", extra) + header[30:] + padding


def _padding(slack: int, zip64: bool) -> bytes | None:
    """A local extra field exactly ``slack`` bytes long (b"" for none), or None if no field can be:
    the alignment field Android's zipalign pads with (ID 0xD935, a 16-bit alignment of 1 here,
    then zeros), which every zip reader skips as an unknown extra."""
    if slack == 0:
        return b""
    room = 0xFFFF - (_ZIP64_LOCAL.size if zip64 else 0)
    if not _PADDING.size <= slack <= room:
        return None
    return _PADDING.pack(_PADDING_ID, slack - 4, 1) + bytes(slack - _PADDING.size)


def _slot_padding(source: WheelArchive, member: str, pos: int, name: bytes, zip64: bool, compressed: int) -> bytes:
    """The padding that makes a replaced member written at ``pos`` end exactly where its data ended
    in the source, when ``pos`` is also where it started there: every member after it then keeps
    its offset too (and, in a prefilled output, its bytes are already in place). b"" when the
    member does not start at its old place or cannot fill it exactly (it grew, or shrank by more
    than an extra field holds)."""
    if pos != source.zipinfo(member).header_offset:
        return b""
    start, length = source.raw_span(member)
    return _padding(start + length - pos - _local_length(name, zip64) - compressed, zip64) or b""


def _local_bytes(
    name: bytes,
    flags: int,
    method: int,
    time_: int,
    date: int,
    crc: int,
    compress_size: int,
    file_size: int,
    zip64: bool,
) -> bytes:
    """A local file header: both sizes in a ZIP64 extra field (0xFFFFFFFF in the 32-bit ones) if
    ``zip64``, else no extra field."""
    if zip64:
        return (
            _LOCAL.pack(
                b"PK\x03\x04",
                max(_METHOD_VERSION.get(method, 20), 45),
                flags,
                method,
                time_,
                date,
                crc,
                _SENTINEL32,
                _SENTINEL32,
                len(name),
                20,
            )
            + name
            + _ZIP64_LOCAL.pack(1, 16, file_size, compress_size)
        )
    return (
        _LOCAL.pack(
            b"PK\x03\x04",
            _METHOD_VERSION.get(method, 20),
            flags,
            method,
            time_,
            date,
            crc,
            compress_size,
            file_size,
            len(name),
            0,
        )
        + name
    )


class _EarlyCopies:
    """The data of the largest unchanged members, copied to its place in the output as soon as that
    place is known, while the entries before it are still being built. Archive order puts torch's
    114 MB libtorch_cpu.so after 8,000 headers: its copy used to start only once the entries
    reached it, then ran alone.

    Places are computed on the copying thread, walking the members in output order: an unchanged
    member takes a header of known length and its compressed size; a member compressed ahead takes
    its compressed size once its compression is done (the walk waits for it). The walk stops at a
    member written any other way (its size is known only when the writer has compressed it) and as
    soon as the writer itself reaches a large member first. ``place`` is how the writer learns
    whether a member's data is already on its way; both sides compute the same places.

    Over a prefill, a member still at its input offset is already in place: the walk waits until
    the writer first writes a member somewhere else (``moved``) and starts from there. torch, whose
    members all keep their offsets, then never walks its 12,000 members at all."""

    def __init__(
        self,
        out: _Output,
        source: WheelArchive,
        members: Sequence[str],
        replace: Mapping[str, Content],
        level: int,
    ) -> None:
        self._out = out
        self._source = source
        self._members = members
        self._replace = replace
        self._level = level
        #: The members whose data this copies ahead (if the walk reaches them first).
        large = [m for m in source.compressed_at_least(_SPAN) if m not in replace]
        listed = set(members) if large else frozenset()
        self.large = frozenset(m for m in large if m in listed)
        self._lock = threading.Lock()
        self._placed: dict[str, int] = {}
        self._passed = False
        #: Set once the walk has claimed what it will (tests wait for it).
        self.claimed = threading.Event()
        #: The walk waits for ``moved`` (a prefilled output).
        self.waiting = bool(self.large) and out.in_place > 0
        if self.large and not self.waiting:
            out.on_copier(functools.partial(self._walk, 0, 0))
        elif not self.large:
            self.claimed.set()

    def moved(self, member: str, end: int) -> None:
        """The writer puts ``member`` somewhere other than its input offset, ending at ``end``: a
        waiting walk starts with the member after it."""
        if not self.waiting:
            return
        self.waiting = False
        self._out.on_copier(functools.partial(self._walk, self._members.index(member) + 1, end))

    def place(self, member: str) -> int | None:
        """Where ``member``'s local header goes if its data is already being copied, else None (and
        from now on the writer copies the large members itself)."""
        if member not in self.large or self.waiting:
            return None  # waiting: the writer finds it in place (a copy to its own offset)
        with self._lock:
            placed = self._placed.get(member)
            if placed is None:
                self._passed = True
            return placed

    def _walk(self, first: int, pos: int) -> None:
        """Place every member from index ``first`` (at ``pos``) up to the first one of unknown size,
        claiming the large ones on the way (quickly: the writer does several times more per
        member), then copy those, largest first."""
        try:
            claimed = self._claim(first, pos)
        finally:
            self.claimed.set()
        source = self._source
        for member, offset, dest, length in sorted(claimed, key=lambda c: c[3], reverse=True):
            short = functools.partial(InvalidWheel, f"member {member!r} is truncated", subject=os.fspath(source.path))
            self._out.copy_at(source.fileno(), offset, dest, length, short)

    def _claim(self, first: int, pos: int) -> list[tuple[str, int, int, int]]:
        claimed: list[tuple[str, int, int, int]] = []
        source = self._source
        replace, large, fixed = self._replace, self.large, _LOCAL.size
        for member in self._members[first:]:
            content = replace.get(member)
            if content is None:
                info = source.zipinfo(member)
                name = info.raw_name if info.raw_name.isascii() else _name_bytes(member)[0]
                size = info.compress_size
                header = fixed + len(name) + (_ZIP64_LOCAL.size if max(size, info.file_size) >= ZIP64_LIMIT else 0)
                if member in large:
                    with self._lock:
                        if self._passed:
                            break
                        self._placed[member] = pos
                    claimed.append((member, source.raw_span(member)[0], pos + header, size))
                pos += header + size
            elif isinstance(content, Deflated) and content.level == self._level:
                compressed = content.compressed_size()
                name, zip64 = _name_bytes(member)[0], _new_entry_zip64(len(content.data))
                padding = _slot_padding(source, member, pos, name, zip64, compressed)
                pos += _local_length(name, zip64) + len(padding) + compressed
            else:
                break
        return claimed


class _RawCopier:
    """Copies unchanged members' compressed bytes. Where a member's local header in the source is
    byte for byte the one we would write and follows the previous member directly, the copies merge
    into one span: a wheel of 12,000 small members costs a few large copies, not 24,000 small I/Os.
    ``flush`` must run before anything else is written."""

    def __init__(
        self,
        out: _Output,
        source: WheelArchive,
        date: tuple[int, int, int, int, int, int] | None,
        early: _EarlyCopies | None = None,
    ):
        self._out = out
        self._source = source
        self._dos = _dos(date) if date is not None else None
        self._start = self._end = 0
        self._first = ""
        self._early = early

    def add_run(self, members: Sequence[str]) -> list[bytes | _Records]:
        """Queue the copies of ``members``, in order; return their central directory records.
        One call per run of unchanged members: torch has 12,000 in a few runs, and this loop is
        most of the time its repair spends writing."""
        records: list[bytes | _Records] = []
        out, early, dos = self._out, self._early, self._dos
        infos = self._source.raw_entries(members)
        # Plain members (see ``zipdir.plain_local``) that stay at their offsets with
        # their dates keep their records and headers exactly: a stretch of them is one slice of
        # the source's central directory and one span of its bytes.
        directory = self._source.central_directory if dos is None else b""
        index, count = 0, len(infos)
        while index < count:
            info = infos[index]
            position = out.pos + (self._end - self._start)
            if info.plain and directory and position == info.header_offset:
                # A large member may need placing (``_EarlyCopies``) unless the walk waits.
                large = early.large if early is not None and not early.waiting else frozenset()
                if info.filename not in large:
                    end = _plain_stretch(infos, index, large)
                    last = infos[end - 1]
                    self._extend(info.header_offset, last.data_offset + last.compress_size, info.filename)
                    records.append(_Records(directory[info.record_at : _record_end(last)], end - index))
                    index = end
                    continue
            records.append(self._copy_one(info, position))
            index += 1
        return records

    def _copy_one(self, info: MemberInfo, position: int) -> bytes:
        """Queue the copy of one member whose local header goes at ``position``; its record."""
        out, early, dos = self._out, self._early, self._dos
        offset, local = info.data_offset, info.local
        length, file_size, crc, method = info.compress_size, info.file_size, info.CRC, info.compress_type
        name = info.raw_name
        flags = info.flag_bits & _FLAG_DATA_BITS
        if not name.isascii():
            name, utf8 = _name_bytes(info.filename)
            flags |= utf8
        # The DOS time and date go through unchanged (what zipfile decodes them to encodes back
        # to the same two numbers).
        time_, date = dos or (info.dos_time, info.dos_date)
        zip64 = max(length, file_size) >= ZIP64_LIMIT
        header = _local_bytes(name, flags, method, time_, date, crc, length, file_size, zip64)
        start = info.header_offset
        if position != start and early is not None and early.waiting:
            early.moved(info.filename, position + len(header) + length)
        large = early.large if early is not None else frozenset()
        placed = early.place(info.filename) if early is not None and info.filename in large else None
        if placed is not None:
            # Its data is already being copied to its place: write the header in front of it.
            self.flush()
            if out.pos != placed:
                raise RuntimeError(f"{info.filename!r} was placed at {placed}, the output is at {out.pos}")
            out.write(header)
            out.reserve(length)
        # ``local`` is the source's whole header, ending where the data starts.
        elif local == header:
            self._extend(start, offset + length, info.filename)
        else:
            self.flush()
            out.write(header)
            self._start, self._end, self._first = offset, offset + length, info.filename
        return _central_record(
            name, flags, method, time_, date, crc, length, file_size, position,
            info.create_system, info.internal_attr, info.external_attr,
        )  # fmt: skip

    def _extend(self, start: int, end: int, member: str) -> None:
        """Copy the source's bytes from ``start`` to ``end`` (``member``'s header and data, and
        any plain members after it) next: merged into the span under way if they follow it."""
        if start == self._end and self._end > self._start:
            self._end = end
            if self._end - self._start >= _SPAN:
                self.flush()  # copying starts now, beside the entries that follow
        else:
            self.flush()
            self._start, self._end, self._first = start, end, member

    def flush(self) -> None:
        if self._end > self._start:
            first, path = self._first, os.fspath(self._source.path)
            self._out.copy(
                self._source.fileno(),
                self._start,
                self._end - self._start,
                lambda: InvalidWheel(f"member {first!r} is truncated", subject=path),
            )
        self._start = self._end = 0


class _Records(NamedTuple):
    """Central directory records copied from the source as they stand, of ``members`` members."""

    data: bytes
    members: int


def _record_end(info: MemberInfo) -> int:
    """Where ``info``'s plain record (no extra field, no comment) ends in the central directory."""
    return info.record_at + _CENTRAL.size + len(info.raw_name)


def _plain_stretch(infos: Sequence[MemberInfo], first: int, large: Collection[str]) -> int:
    """The index past the plain members from ``first`` on that follow each other in the file and in
    the central directory (nothing between them in either), none of them in ``large``."""
    previous, index, count = infos[first], first + 1, len(infos)
    while index < count:
        info = infos[index]
        if (
            not info.plain
            or info.header_offset != previous.data_offset + previous.compress_size
            or info.record_at != _record_end(previous)
            or info.filename in large
        ):
            break
        previous, index = info, index + 1
    return index


def _read_chunks(content: bytes | os.PathLike[str], size: int) -> Iterator[bytes]:
    """``content`` in pieces of ``size`` bytes (the last may be shorter)."""
    if isinstance(content, (bytes, bytearray, memoryview)):
        view = memoryview(content)
        for start in range(0, len(view), size):
            yield bytes(view[start : start + size])
        return
    with open(content, "rb") as stream:
        while chunk := stream.read(size):
            yield chunk


def _content_size(content: Content) -> int:
    if isinstance(content, (bytes, bytearray, memoryview)):
        return len(content)
    if isinstance(content, Deflated):
        return len(content.data)
    return os.stat(content).st_size


class Deflated:
    """A new member's content, compressed ahead of the write by a ``DeflateAhead`` pool.
    ``write_wheel`` takes it as it takes bytes (at the same level); ``data`` stays readable for
    the caller's own checks, and ``sha256_hex`` gives the digest without hashing again (as soon
    as it is known, before the compression ends)."""

    __slots__ = ("data", "level", "_sums", "_parts")

    def __init__(
        self, data: bytes, level: int, sums: Future[tuple[int, bytes]], parts: Sequence[Future[bytes]]
    ) -> None:
        self.data = data
        self.level = level
        self._sums = sums
        self._parts = tuple(parts)

    def compressed_size(self) -> int:
        """Length of the compressed data (waits for the compression)."""
        return sum(len(part.result()) for part in self.compressed())

    def compressed(self) -> tuple[Future[bytes], ...]:
        """The compressed stream in consecutive parts, each ready once the pool is done with it."""
        return self._parts

    def crc(self) -> int:
        return self._sums.result()[0]

    def sha256_hex(self) -> str:
        return self._sums.result()[1].hex()

    def record_digest(self) -> str:
        return encode_digest("sha256", self._sums.result()[1])


class DeflateAhead:
    """A thread pool that hashes, checksums and compresses whole members as soon as the caller has
    them (``deflate``), largest first if the caller hands them over in that order, so one large
    member's compression runs beside the preparation of the others instead of after it. The caller
    bounds the memory: each ``Deflated`` holds its input and output until written."""

    def __init__(self, level: int = compression.DEFAULT_LEVEL, workers: int | None = None) -> None:
        if not 0 <= level <= 9:
            raise UsageError(f"zip compression level {level} is not between 0 (stored) and 9")
        self.level = level
        self._workers = workers or _workers()
        self._pool = ThreadPoolExecutor(max_workers=self._workers)
        # Checksums on a thread of their own, in hand-over order: a digest the caller needs soon
        # (the SBOM's) never waits behind another member's compression.
        self._sums = ThreadPoolExecutor(max_workers=1)

    def deflate(self, data: bytes) -> Deflated:
        sums = self._sums.submit(_sums, data)
        if not self.level:
            stored: Future[bytes] = Future()
            stored.set_result(data)
            return Deflated(data, self.level, sums, [stored])
        if len(data) <= compression.CHUNK:
            return Deflated(data, self.level, sums, [self._pool.submit(compression.compress_whole, data, self.level)])
        # A large member: its last four fifths are one complete stream (libdeflate, the fastest and
        # smallest, submitted first as the longest task), its first fifth goes in pieces that end
        # on a sync flush (zlib-ng) on the other cores; joined, one stream. Compressed whole,
        # scipy's 23 MiB OpenBLAS ran alone on one core for the repair's last 0.19 s on two cores.
        # zlib-ng at level 6 writes 2-3% more than zlib on an OpenBLAS (libdeflate ~1% less), so
        # the head's share decides whether the member beats auditwheel's zlib 6: with a third,
        # numpy's repaired wheel came out 0.12% larger than auditwheel's; with a fifth it is 0.12%
        # smaller, and scipy's repair was no slower (the other members keep the other core busy).
        # The cut never depends on the number of cores, so the same input gives the same wheel on
        # any machine.
        view = memoryview(data)
        head = len(data) // HEAD_SHARE
        tail = self._pool.submit(compression.compress_whole, view[head:], self.level)
        parts = []
        for start in range(0, head, compression.PIECE):
            end = min(start + compression.PIECE, head)
            window = view[max(0, start - compression.WINDOW) : start]
            parts.append(
                self._pool.submit(compression.compress_chunk, view[start:end], self.level, window, False)
            )
        return Deflated(data, self.level, sums, [*parts, tail])

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._sums.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> DeflateAhead:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _sums(data: bytes) -> tuple[int, bytes]:
    # zlib-ng's crc32 and hashlib release the GIL on buffers this size.
    return compression.crc32(data), hashlib.sha256(data).digest()


class _Pipeline:
    """The output's writes, run strictly in order, while the compression they wait for runs on a
    thread pool (zlib-ng, libdeflate and zlib release the GIL). At most ``2 * workers`` compression
    tasks are in flight, each holding one chunk of input and its output, so memory is bounded by
    the chunk size and the number of cores, never by the size of a member or of the wheel."""

    def __init__(self, workers: int) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers)
        self._limit = 2 * workers
        self._queue: deque[tuple[Future[Any] | None, Callable[[Any], None]]] = deque()
        self._in_flight = 0

    def then(self, action: Callable[[], None]) -> None:
        """Run ``action`` once everything queued before it has been written."""
        if not self._queue:
            action()
        else:
            self._queue.append((None, lambda _: action()))

    def submit(self, work: Callable[[], bytes], write: Callable[[bytes], None]) -> None:
        """Compute ``work()`` on the pool and hand the result to ``write`` in queue order."""
        self._queue.append((self._pool.submit(work), write))
        self._in_flight += 1
        while self._in_flight > self._limit:
            self._run_next()

    def wait(self, future: Future[_T], write: Callable[[_T], None]) -> None:
        """Hand ``future``'s result (computed elsewhere) to ``write`` in queue order."""
        self._queue.append((future, write))
        self._in_flight += 1
        while self._in_flight > self._limit:
            self._run_next()

    def drain(self) -> None:
        while self._queue:
            self._run_next()

    def close(self) -> None:
        for future, _ in self._queue:
            if future is not None:
                future.cancel()
        self._queue.clear()
        self._pool.shutdown(wait=True)

    def _run_next(self) -> None:
        future, write = self._queue.popleft()
        if future is None:
            write(b"")
            return
        self._in_flight -= 1
        write(future.result())


class _NewEntry:
    """The output side of one member written anew: its local header goes out first (its sizes and
    CRC patched in by ``finish``), then its compressed parts in order."""

    def __init__(
        self,
        pipeline: _Pipeline,
        out: _Output,
        entries: list[_Entry | bytes | _Records],
        member: str,
        size_hint: int,
        method: int,
        external_attr: int,
        create_system: int,
        date: Sequence[int],
        slot: Callable[[int, bytes, bool], bytes] | None = None,
    ) -> None:
        """``slot(pos, name, zip64)`` gives the padding of a member whose compressed size is known
        before it is written (see ``_slot_padding``)."""
        name, utf8 = _name_bytes(member)
        self._out = out
        self._member = member
        self._zip64 = _new_entry_zip64(size_hint)
        self._padding = b""
        self._entry = _Entry(
            name=name,
            flags=utf8,
            method=method,
            date_time=(date[0], date[1], date[2], date[3], date[4], date[5]),
            crc=0,
            compress_size=0,
            file_size=0,
            offset=0,
            create_system=create_system,
            external_attr=external_attr,
        )

        def start() -> None:
            self._entry.offset = out.pos
            if slot is not None:
                self._padding = slot(out.pos, name, self._zip64)
            entries.append(self._entry)
            out.write(_local_header(self._entry, self._zip64, self._padding))

        pipeline.then(start)

    def write(self, data: bytes) -> None:
        self._entry.compress_size += len(data)
        self._out.write(data)

    def finish(self, crc: int, size: int) -> None:
        entry = self._entry
        if not self._zip64 and max(size, entry.compress_size) >= ZIP64_LIMIT:
            raise ValueError(f"{self._member!r} grew past 4 GiB while it was being written")
        entry.crc, entry.file_size = crc, size
        self._out.patch(entry.offset, _local_header(entry, self._zip64, self._padding))


def _queue_new(
    pipeline: _Pipeline,
    out: _Output,
    entries: list[_Entry | bytes | _Records],
    member: str,
    content: bytes | os.PathLike[str],
    external_attr: int,
    create_system: int,
    date: Sequence[int],
    level: int,
) -> tuple[str, int]:
    """Queue ``content`` as a new entry (deflated at ``level``, stored at 0); return its RECORD hash
    and size, which are known as soon as the content has been read."""
    expected = _content_size(content)
    method = zipfile.ZIP_DEFLATED if level else zipfile.ZIP_STORED
    entry = _NewEntry(pipeline, out, entries, member, expected, method, external_attr, create_system, date)
    hasher = hashlib.sha256()
    crc = size = 0
    window = b""
    # A member too large to compress whole goes in smaller pieces: they start compressing sooner
    # and share the cores evenly to the end (scipy's 25 MB OpenBLAS: the last of three 8 MiB
    # chunks ran alone for 0.12 s).
    piece = compression.CHUNK if expected <= compression.CHUNK else min(compression.PIECE, compression.CHUNK)
    streamed = compression.streamed_level(level)
    pieces = _read_chunks(content, piece)
    chunk = next(pieces, b"")
    first = True
    while True:
        following = next(pieces, None)
        hasher.update(chunk)
        crc = compression.crc32(chunk, crc)
        size += len(chunk)
        last = following is None
        if level == 0:
            pipeline.submit(functools.partial(bytes, chunk), entry.write)
        elif first and last:
            pipeline.submit(functools.partial(compression.compress_whole, chunk, level), entry.write)
        else:
            pipeline.submit(functools.partial(compression.compress_chunk, chunk, streamed, window, last), entry.write)
        if following is None:
            break
        window = chunk[-compression.WINDOW :]
        chunk, first = following, False
    pipeline.then(lambda: entry.finish(crc, size))
    return encode_digest("sha256", hasher.digest()), size


def _queue_deflated(
    pipeline: _Pipeline,
    out: _Output,
    entries: list[_Entry | bytes | _Records],
    member: str,
    content: Deflated,
    external_attr: int,
    create_system: int,
    date: Sequence[int],
    source: WheelArchive | None = None,
) -> int:
    """``_queue_new`` for a member compressed ahead; return its size. A member of ``source`` that
    starts at its old place is padded to fill it (``_slot_padding``)."""
    size = len(content.data)
    method = zipfile.ZIP_DEFLATED if content.level else zipfile.ZIP_STORED

    def slot(pos: int, name: bytes, zip64: bool) -> bytes:
        assert source is not None
        return _slot_padding(source, member, pos, name, zip64, content.compressed_size())

    padded = slot if source is not None and member in source.sizes else None
    entry = _NewEntry(pipeline, out, entries, member, size, method, external_attr, create_system, date, padded)
    for part in content.compressed():
        pipeline.wait(part, entry.write)
    pipeline.then(lambda: entry.finish(content.crc(), size))
    return size


def _central_record(
    name: bytes,
    flags: int,
    method: int,
    time_: int,
    date: int,
    crc: int,
    compress_size: int,
    file_size: int,
    offset: int,
    create_system: int,
    internal_attr: int,
    external_attr: int,
) -> bytes:
    """A central directory record: the values that overflow 32 bits in a ZIP64 extra field."""
    limit = ZIP64_LIMIT
    if file_size < limit and compress_size < limit and offset < limit:
        extra = b""
        version = _METHOD_VERSION.get(method, 20)
    else:
        fields = [file_size, compress_size, offset]
        extra_values = [value for value in fields if value >= limit]
        extra = struct.pack(f"<HH{len(extra_values)}Q", 1, 8 * len(extra_values), *extra_values)
        file_size, compress_size, offset = (_SENTINEL32 if value >= limit else value for value in fields)
        version = max(_METHOD_VERSION.get(method, 20), 45)
    return (
        _CENTRAL.pack(
            b"PK\x01\x02",
            version,
            create_system,
            version,
            flags,
            method,
            time_,
            date,
            crc,
            compress_size,
            file_size,
            len(name),
            len(extra),
            0,
            0,
            internal_attr,
            external_attr,
            offset,
        )
        + name
        + extra
    )


def _entry_record(entry: _Entry) -> bytes:
    time_, date = _dos(entry.date_time)
    return _central_record(
        entry.name, entry.flags, entry.method, time_, date, entry.crc, entry.compress_size, entry.file_size,
        entry.offset, entry.create_system, entry.internal_attr, entry.external_attr,
    )  # fmt: skip


def _write_central_directory(
    out: _Output, entries: Sequence[_Entry | bytes | _Records]
) -> tuple[int, bytes]:
    """``entries`` are records already built (members copied raw), records copied from the source,
    or entries to build them from. Returns where the directory starts and the bytes written from
    there to the end of the file."""
    start = out.pos
    records = b"".join(
        entry if isinstance(entry, bytes) else entry.data if isinstance(entry, _Records) else _entry_record(entry)
        for entry in entries
    )
    size = len(records)
    count = sum(entry.members if isinstance(entry, _Records) else 1 for entry in entries)
    many, big_size, big_start = count >= ZIP64_COUNT_LIMIT, size >= ZIP64_LIMIT, start >= ZIP64_LIMIT
    zip64 = b""
    if many or big_size or big_start:
        end64 = start + size
        zip64 = _END64.pack(b"PK\x06\x06", _END64.size - 12, 45, _UNIX, 45, 0, 0, count, count, size, start)
        zip64 += _LOCATOR64.pack(b"PK\x06\x07", 0, end64, 1)
    entries16 = _SENTINEL16 if many else count
    end = _END.pack(
        b"PK\x05\x06",
        0,
        0,
        entries16,
        entries16,
        _SENTINEL32 if big_size else size,
        _SENTINEL32 if big_start else start,
        0,
    )
    tail = records + zip64 + end
    out.write(tail)
    return start, tail


def _fsync_dir(directory: Path) -> None:
    """Make the rename durable; best effort (not every platform can open a directory)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
