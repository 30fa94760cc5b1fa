"""A zip's central directory read and checked in one pass: a wheel's entries, or why it is refused.

``zipfile.ZipFile`` builds a ``ZipInfo`` per entry through several layers of Python, and the checks
a wheel needs walked the entries a second time: torch (12,248 entries) cost 0.05-0.08 s to parse and
0.04 s to check. Here the end records are found in one read of the file's tail and each entry costs
one struct unpack and the checks, with no other per-entry work.

Python's zipfile (3.11) is the compatibility reference: what it accepts at open is accepted (data
before the zip, ZIP64 end records and extra fields, cp437 names, an end record whose entry counts
are wrong, which zipfile never reads), and what it refuses is refused with zipfile's own message.
On top, every entry a wheel may not hold is refused by name (``MetadataError``): unsafe paths,
links and special files, duplicates, encryption, unknown methods, zip bombs, overlapping data.
"""

from __future__ import annotations

import os
import re
import stat
import struct
import zipfile
from collections.abc import Iterable

from wheelrepair.wheel.metadata import MetadataError

#: A member larger than this whose uncompressed size exceeds MAX_RATIO times its compressed size is
#: refused as a zip bomb. Deflate cannot exceed ~1032:1, so legitimate data only comes near the ratio
#: when it is almost entirely one repeated byte, which no real wheel ships in such quantity.
BOMB_MIN_SIZE = 16 * 1024 * 1024
MAX_RATIO = 1000
#: Cap on the declared uncompressed size of all members together (the largest real wheels, CUDA
#: libraries, unpack to a few GiB).
MAX_TOTAL_SIZE = 32 * 1024**3
#: Highest "version needed to extract" the zip specification defines (6.3) and zipfile accepts.
MAX_EXTRACT_VERSION = 63
#: Size of the fixed part of a local file header (APPNOTE 4.3.7).
LOCAL_HEADER_SIZE = 30

_FLAG_ENCRYPTED = 0x1
#: General-purpose flag bit 5: "compressed patched data", which no installer can read.
_FLAG_PATCHED = 0x20
_FLAG_STRONG_ENCRYPTION = 0x40
_FLAG_UTF8 = 0x800
_REFUSED_FLAGS = _FLAG_ENCRYPTED | _FLAG_PATCHED | _FLAG_STRONG_ENCRYPTION
#: The flag bits that describe the compressed data itself (deflate level): the only ones a plain
#: record has (see ``plain_local``).
_FLAG_DATA_BITS = 0x6
#: "Version made by" and "needed to extract" of a plain record: 2.0, what stored and deflated need.
_PLAIN_VERSION = 20
_PLAIN_NEEDED = b"\x14\x00"
_U32 = struct.Struct("<I")
_SENTINEL32 = 0xFFFFFFFF
#: Compression methods zipfile can decompress: stored, deflate, bzip2, lzma.
_METHODS = frozenset({zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA})

_END = struct.Struct("<4sHHHHIIH")
_END_MAGIC = b"PK\x05\x06"
_LOCATOR64 = struct.Struct("<4sIQI")
_END64_SIZE = 56
_CENTRAL = struct.Struct("<4sBBBBHHHHIIIHHHHHII")
_CENTRAL_MAGIC = b"PK\x01\x02"
_EXTRA_HEADER = struct.Struct("<HH")
_U64 = struct.Struct("<Q")
#: The end record with the longest comment a zip can hold (APPNOTE 4.3.16).
_MAX_TAIL = _END.size + 0xFFFF + 1
_KIND_MASK = 0o170000
#: File types an entry may have: none given, a regular file, a directory.
_PLAIN_KINDS = frozenset({0, stat.S_IFREG, stat.S_IFDIR})
_DEFLATED = zipfile.ZIP_DEFLATED
_DRIVE = re.compile(r"^[A-Za-z]:")
#: Below any offset an entry can have (data before the zip shifts them, possibly below zero).
_BEFORE_ANY = -(1 << 80)


class MemberInfo:
    """One entry of the central directory: the fields of ``zipfile.ZipInfo`` the code reads (sizes
    and offset already taken from the ZIP64 extra field), the name's stored bytes, and what the
    local header said once it was read (see ``WheelArchive.raw_entries``)."""

    __slots__ = (
        "filename",
        "raw_name",
        "create_system",
        "flag_bits",
        "compress_type",
        "dos_time",
        "dos_date",
        "CRC",
        "compress_size",
        "file_size",
        "internal_attr",
        "external_attr",
        "header_offset",
        "data_offset",
        "local",
        "record_at",
        "plain",
    )

    def __init__(
        self,
        filename: str,
        raw_name: bytes,
        create_system: int,
        flag_bits: int,
        compress_type: int,
        dos_time: int,
        dos_date: int,
        crc: int,
        compress_size: int,
        file_size: int,
        internal_attr: int,
        external_attr: int,
        header_offset: int,
    ) -> None:
        self.filename = filename
        self.raw_name = raw_name
        self.create_system = create_system
        self.flag_bits = flag_bits
        self.compress_type = compress_type
        self.dos_time = dos_time
        self.dos_date = dos_date
        self.CRC = crc
        self.compress_size = compress_size
        self.file_size = file_size
        self.internal_attr = internal_attr
        self.external_attr = external_attr
        self.header_offset = header_offset
        #: Once the local header was read and checked: where the compressed data starts, and the
        #: whole header (fixed part, name, extra field), or b"" if its extra field is long.
        self.data_offset = -1
        self.local = b""
        #: Where this member's record starts in the central directory.
        self.record_at = -1
        #: True once the local header was read and both it and the record are plain (``plain_local``).
        self.plain = False

    @property
    def orig_filename(self) -> str:
        return self.filename

    @property
    def date_time(self) -> tuple[int, int, int, int, int, int]:
        """(year, month, day, hour, minute, second), decoded as zipfile does."""
        d, t = self.dos_date, self.dos_time
        return ((d >> 9) + 1980, (d >> 5) & 0xF, d & 0x1F, t >> 11, (t >> 5) & 0x3F, (t & 0x1F) * 2)

    def __repr__(self) -> str:
        return f"MemberInfo({self.filename!r}, size={self.file_size}, method={self.compress_type})"


def unsafe_member_name(name: str) -> str | None:
    """Why ``name`` may not be a wheel member path (zip-slip, absolute, not normalized), or None."""
    if "\x00" in name:
        return "contains a NUL byte"
    if "\\" in name:
        return "contains a backslash (absolute or Windows-style path)"
    if name.startswith("/") or _DRIVE.match(name):
        return "is an absolute path"
    parts = name.rstrip("/").split("/")
    if ".." in parts:
        return "escapes the wheel through '..' (zip-slip)"
    if any(part in ("", ".") for part in parts):
        return "is not a normalized path"
    return None


def read_directory(fd: int, file_size: int) -> dict[str, MemberInfo]:
    """The file members (not directories) of the zip open at ``fd``, by name in directory order.
    ``zipfile.BadZipFile`` (or the ``UnicodeDecodeError`` zipfile also lets through) for a structure
    zipfile refuses at open; ``MetadataError`` for an entry a wheel may not hold."""
    return read_central_directory(fd, file_size)[0]


def read_central_directory(fd: int, file_size: int) -> tuple[dict[str, MemberInfo], bytes]:
    """``read_directory``'s members, and the central directory's bytes they were read from (each
    member's record starts at its ``record_at``; see ``plain_local``)."""
    start_dir, size_cd, concat, tail, tail_start = _end_records(fd, file_size)
    if tail_start <= start_dir and start_dir + size_cd <= tail_start + len(tail):
        directory = tail[start_dir - tail_start : start_dir - tail_start + size_cd]
    else:
        directory = _pread(fd, min(size_cd, max(0, file_size - start_dir)), start_dir)
    return _walk(directory, size_cd, concat, min(start_dir, file_size)), directory


def plain_local(info: MemberInfo, local: bytes, directory: bytes) -> bool:
    """Whether ``info``'s record in ``directory`` and ``local``, its whole local header, are plain:
    exactly what a writer that keeps the member at its offset with its date writes. That is version
    2.0 made and needed, no flag but the deflate level's, no extra field, comment or disk number in
    either, an ASCII name, 32-bit sizes and an offset with no bytes before the zip, and the same
    fields in both. Such a member's header and record can be copied as they stand, and a run of
    them as one span and one slice of the directory (torch: 12,000 records in one piece).

    Asked where the local header is read (a scan worker, mostly), not in the directory's walk:
    ``show`` never needs it."""
    at = info.record_at
    return (
        at >= 0
        and len(local) == LOCAL_HEADER_SIZE + len(info.raw_name)
        and local[4:LOCAL_HEADER_SIZE] == directory[at + 6 : at + 32]  # version needed .. extra length
        and directory[at + 4] == _PLAIN_VERSION
        and directory[at + 6 : at + 8] == _PLAIN_NEEDED
        and directory[at + 32 : at + 36] == b"\0\0\0\0"  # comment length, disk number
        and not info.flag_bits & ~_FLAG_DATA_BITS
        and info.compress_type in (zipfile.ZIP_STORED, _DEFLATED)
        and info.raw_name.isascii()
        and max(info.file_size, info.compress_size, info.header_offset) < _SENTINEL32
        and _U32.unpack_from(directory, at + 42)[0] == info.header_offset
    )


def _pread(fd: int, size: int, offset: int) -> bytes:
    """Up to ``size`` bytes at ``offset`` (fewer at the end of the file), in as many reads as it takes."""
    parts = []
    while size > 0:
        part = os.pread(fd, min(size, 1 << 30), offset)
        if not part:
            break
        parts.append(part)
        size -= len(part)
        offset += len(part)
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _end_records(fd: int, file_size: int) -> tuple[int, int, int, bytes, int]:
    """(start of the central directory, its declared size, bytes of data before the zip, the file's
    tail, where the tail starts), from the end record and the ZIP64 end record, as zipfile finds them."""
    tail_start = max(0, file_size - _MAX_TAIL)
    tail = _pread(fd, file_size - tail_start, tail_start)
    if (
        len(tail) >= _END.size
        and tail.startswith(_END_MAGIC, len(tail) - _END.size)
        and tail.endswith(b"\0\0")
    ):
        at = len(tail) - _END.size  # no comment: the end record is the file's last 22 bytes
    else:
        # A comment follows: the record is the last signature (zipfile assumes the comment holds none).
        at = tail.rfind(_END_MAGIC)
        if at < 0 or at + _END.size > len(tail):
            raise zipfile.BadZipFile("File is not a zip file")
    size_cd, offset_cd = _END.unpack_from(tail, at)[5:7]
    end = tail_start + at
    zip64 = False
    if end >= _LOCATOR64.size:
        locator = _slice(fd, tail, tail_start, end - _LOCATOR64.size, _LOCATOR64.size)
        if len(locator) == _LOCATOR64.size and locator.startswith(b"PK\x06\x07"):
            _, disk, _, disks = _LOCATOR64.unpack(locator)
            if disk != 0 or disks > 1:
                raise zipfile.BadZipFile("zipfiles that span multiple disks are not supported")
            at64 = end - _LOCATOR64.size - _END64_SIZE
            if at64 < 0:
                raise zipfile.BadZipFile("File is not a zip file")
            # Like zipfile, the ZIP64 end record is taken to sit just before its locator.
            record = _slice(fd, tail, tail_start, at64, _END64_SIZE)
            if len(record) == _END64_SIZE and record.startswith(b"PK\x06\x06"):
                size_cd, offset_cd = struct.unpack_from("<QQ", record, 40)
                zip64 = True
    # Bytes before the zip (a self-extracting stub): every offset in the zip is shifted by them.
    concat = end - size_cd - offset_cd - (_LOCATOR64.size + _END64_SIZE if zip64 else 0)
    start_dir = offset_cd + concat
    if start_dir < 0:
        raise zipfile.BadZipFile("Bad offset for central directory")
    return start_dir, size_cd, concat, tail, tail_start


def _slice(fd: int, tail: bytes, tail_start: int, offset: int, size: int) -> bytes:
    if offset >= tail_start:
        return tail[offset - tail_start : offset - tail_start + size]
    return os.pread(fd, size, offset)


def _walk(directory: bytes, size_cd: int, concat: int, end_of_data: int) -> dict[str, MemberInfo]:
    """Every entry of ``directory``, parsed as zipfile parses it and checked, in one pass."""
    infos: dict[str, MemberInfo] = {}
    folders: dict[str, tuple[int, int, str]] = {}  # directory entries ("name/"): their spans
    parents: set[str] = set()  # every directory above a file
    unpack = _CENTRAL.unpack_from
    length = len(directory)
    total = pos = 0
    # Each entry must fit before the next one: overlapping entries are how non-recursive zip bombs
    # reuse one compressed stream many times. Checked on the way while the entries come in offset
    # order (they nearly always do), else by ``_span_problem`` after sorting; reported last.
    ordered = True
    previous_offset = previous_end = _BEFORE_ANY
    previous_name = ""
    span_problem: str | None = None
    # Module constants as locals: this loop runs once per entry (tests patch MAX_TOTAL_SIZE).
    max_total, bomb_size, header_size = MAX_TOTAL_SIZE, BOMB_MIN_SIZE, LOCAL_HEADER_SIZE
    while pos < size_cd:
        if pos + 46 > length:
            raise zipfile.BadZipFile("Truncated central directory")
        (
            magic,
            _,
            create_system,
            extract_version,
            _,
            flags,
            method,
            dos_time,
            dos_date,
            crc,
            compress_size,
            file_size,
            name_len,
            extra_len,
            comment_len,
            _,
            internal_attr,
            external_attr,
            offset,
        ) = unpack(directory, pos)
        record_at = pos
        if magic != _CENTRAL_MAGIC:
            raise zipfile.BadZipFile("Bad magic number for central directory")
        pos += 46
        raw = directory[pos : pos + name_len]
        name = raw.decode("ascii") if raw.isascii() else _decode(raw, flags)
        if extract_version > MAX_EXTRACT_VERSION:
            raise MetadataError(
                f"member {name!r} needs zip version {extract_version / 10:.1f} to extract "
                f"(the highest defined is {MAX_EXTRACT_VERSION / 10:.1f}; corrupted header?)"
            )
        pos += name_len
        if extra_len:
            file_size, compress_size, offset = _zip64(
                directory[pos : pos + extra_len], file_size, compress_size, offset
            )
        pos += extra_len + comment_len
        offset += concat

        # What a wheel may not hold, in the order the problems are reported. Only a name with
        # one of these characters or sequences can be unsafe, so most skip the full check.
        if (
            not name
            or name[0] in "./"
            or "/." in name
            or "//" in name
            or "\\" in name
            or "\x00" in name
            or name[1:2] == ":"
        ):
            reason = unsafe_member_name(name)
            if reason:
                raise MetadataError(f"member {name!r} {reason}")
        kind = (external_attr >> 16) & _KIND_MASK
        if kind not in _PLAIN_KINDS:
            if kind == stat.S_IFLNK:
                raise MetadataError(f"member {name!r} is a symbolic link")
            raise MetadataError(f"member {name!r} is a special file (mode {kind:o})")
        is_folder = name.endswith("/")
        if name in (folders if is_folder else infos):
            raise MetadataError(f"member {name!r} appears more than once")
        if flags & _REFUSED_FLAGS:
            if flags & _FLAG_ENCRYPTED:
                raise MetadataError(f"member {name!r} is encrypted")
            if flags & _FLAG_STRONG_ENCRYPTION:
                raise MetadataError(f"member {name!r} is encrypted (strong encryption, flag bit 6)")
            raise MetadataError(f"member {name!r} is marked as compressed patched data (flag bit 5)")
        if method != _DEFLATED:
            if method not in _METHODS:
                raise MetadataError(f"member {name!r} uses unsupported compression method {method}")
            if method == zipfile.ZIP_STORED and compress_size != file_size:
                raise MetadataError(f"stored member {name!r} has inconsistent sizes")
        if file_size > bomb_size and file_size > MAX_RATIO * max(compress_size, 1):
            raise MetadataError(
                f"member {name!r} expands {compress_size} bytes to {file_size} "
                f"(ratio over {MAX_RATIO}:1, zip bomb?)"
            )
        total += file_size
        if total > max_total:
            raise MetadataError(f"members expand to more than {max_total} bytes (zip bomb?)")

        minimum = header_size + len(raw) + compress_size
        if ordered:
            if offset > previous_offset:
                if span_problem is None:
                    if previous_end > offset:
                        span_problem = _overlap(previous_name, "overlaps the next entry")
                    elif offset < 0:
                        span_problem = _before_start(name)
                previous_offset, previous_end, previous_name = offset, offset + minimum, name
            else:
                ordered = False
        if is_folder:
            folders[name] = (offset, minimum, name)
            continue
        info = infos[name] = MemberInfo(
            name,
            raw,
            create_system,
            flags,
            method,
            dos_time,
            dos_date,
            crc,
            compress_size,
            file_size,
            internal_attr,
            external_attr,
            offset,
        )
        info.record_at = record_at
        cut = name.rfind("/")
        while cut > 0:
            parent = name[:cut]
            if parent in parents:
                break  # and so are all of its own parents
            parents.add(parent)
            cut = name.rfind("/", 0, cut)

    if not parents.isdisjoint(infos):
        clash = next(name for name in infos if name in parents)
        raise MetadataError(f"member {clash!r} is both a file and a directory")
    if not ordered:
        span_problem = _span_problem(infos, folders.values(), end_of_data)
    elif span_problem is None and previous_end > end_of_data:
        span_problem = _overlap(previous_name, "runs past the end of the data")
    if span_problem is not None:
        raise MetadataError(span_problem)
    return infos


def _decode(raw: bytes, flags: int) -> str:
    """A stored name as zipfile decodes it: UTF-8 if flag bit 11 says so, else cp437."""
    if raw.isascii():
        return raw.decode("ascii")
    return raw.decode("utf-8" if flags & _FLAG_UTF8 else "cp437")


def _overlap(name: str, problem: str) -> str:
    return f"member {name!r} {problem} (truncated or malformed zip)"


def _before_start(name: str) -> str:
    return f"member {name!r} starts before the beginning of the file (malformed zip)"


def _zip64(extra: bytes, file_size: int, compress_size: int, offset: int) -> tuple[int, int, int]:
    """The sizes and offset with the ZIP64 extra field's values where the 32-bit fields hold the
    0xFFFFFFFF sentinel; BadZipFile for a malformed extra field, as zipfile (3.11) decodes it."""
    at = 0
    while len(extra) - at >= 4:
        kind, size = _EXTRA_HEADER.unpack_from(extra, at)
        if size + 4 > len(extra) - at:
            raise zipfile.BadZipFile(f"Corrupt extra field {kind:04x} (size={size})")
        if kind == 1:
            data = extra[at + 4 : at + 4 + size]
            field = 0
            if file_size in (0xFFFF_FFFF_FFFF_FFFF, 0xFFFF_FFFF):
                file_size = _u64(data, field, "File size")
                field += 8
            if compress_size == 0xFFFF_FFFF:
                compress_size = _u64(data, field, "Compress size")
                field += 8
            if offset == 0xFFFF_FFFF:
                offset = _u64(data, field, "Header offset")
        at += size + 4
    return file_size, compress_size, offset


def _u64(data: bytes, at: int, field: str) -> int:
    if at + 8 > len(data):
        raise zipfile.BadZipFile(f"Corrupt zip64 extra field. {field} not found.")
    value: int = _U64.unpack_from(data, at)[0]
    return value


def _span_problem(
    infos: dict[str, MemberInfo], folders: Iterable[tuple[int, int, str]], end_of_data: int
) -> str | None:
    """The overlap check for entries out of offset order: sorted by offset, each must end before the
    next starts, and the last before the central directory."""
    spans = [
        (i.header_offset, LOCAL_HEADER_SIZE + len(i.raw_name) + i.compress_size, n) for n, i in infos.items()
    ]
    spans += folders
    spans.sort()
    for index, (offset, minimum, name) in enumerate(spans):
        limit = spans[index + 1][0] if index + 1 < len(spans) else end_of_data
        if offset < 0:
            return _before_start(name)
        if offset + minimum > limit:
            return _overlap(
                name, "overlaps the next entry" if index + 1 < len(spans) else "runs past the end of the data"
            )
    return None
