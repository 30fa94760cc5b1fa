"""Safe read access to a wheel: the zip is validated once at open, members are read lazily."""

from __future__ import annotations

import functools
import hashlib
import io
import logging
import lzma
import os
import stat
import struct
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, suppress
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import IO, TYPE_CHECKING, cast

from wheelrepair.errors import InvalidWheel
from wheelrepair.wheel import compression
from wheelrepair.wheel.metadata import (
    SIGNATURE_FILES,
    MetadataError,
    WheelMetadata,
    encode_digest,
    find_dist_info,
    parse_record,
    parse_wheel_file,
    validate_filename,
)
from wheelrepair.wheel.zipdir import MemberInfo, plain_local, read_central_directory, unsafe_member_name

__all__ = ["CHUNK_SIZE", "ZIP_ERRORS", "MemberInfo", "WheelArchive", "parent_dirs", "unsafe_member_name"]

log = logging.getLogger("wheelrepair")

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

#: WHEEL and RECORD are read whole at open; anything larger than this is not a real wheel's metadata.
MAX_METADATA_SIZE = 64 * 1024 * 1024
#: Read and hash in chunks of this size so memory stays flat whatever the member size.
CHUNK_SIZE = 1024 * 1024
#: (member, offset of its compressed data, its local header as stored or b"", whether the header is
#: plain): see ``local_headers``.
LocalHeader = tuple[str, int, bytes, bool]

#: What the standard library's zipfile and decompressors raise on a malformed archive or member:
#: BadZipFile/LargeZipFile for structure, NotImplementedError for a version, flag or method it does
#: not support, RuntimeError for encryption, zlib/lzma errors and OSError (bzip2) for bad data,
#: EOFError for data that ends early, ValueError/struct.error/OverflowError for fields out of range.
ZIP_ERRORS: tuple[type[BaseException], ...] = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    NotImplementedError,
    RuntimeError,
    EOFError,
    OSError,
    ValueError,
    OverflowError,
    struct.error,
    zlib.error,
    lzma.LZMAError,
)
_LOCAL_HEADER = struct.Struct("<4sHHHHHIIIHH")
_LOCAL_MAGIC = b"PK\x03\x04"
#: What ``raw_span`` reads after a local header's name: room for the extra field a header
#: usually has (none, or a 20-byte ZIP64 field), so that the whole header comes in one read.
_EXTRA_SLACK = 32


def parent_dirs(name: str) -> Iterator[str]:
    """Every directory above member ``name``: ``a/b/c`` gives ``a/b`` and ``a``."""
    while "/" in name:
        name = name.rsplit("/", 1)[0]
        yield name


#: Compressed bytes read at a time when inflating only a member's first bytes.
_HEAD_CHUNK = 2048
#: What ``head`` reads after a local header's name first: a short extra field and enough deflate
#: input for the first 64 bytes of almost every member.
_QUICK_SLACK = 640


class WheelArchive:
    """An open, validated wheel. Use ``WheelArchive.open(path)`` as a context manager."""

    def __init__(
        self, path: Path, fp: IO[bytes], infos: Mapping[str, MemberInfo], directory: bytes = b""
    ) -> None:
        self.path = path
        #: The central directory as stored: the writer copies plain records from it (``zipdir.plain_local``).
        self.central_directory = directory
        self.members: tuple[str, ...] = tuple(infos)
        self._label = os.fspath(path)
        #: What the file was when opened; see ``changed_on_disk``.
        self.identity = _identity(os.fstat(fp.fileno()))
        self._fp = fp
        self._fd = fp.fileno()
        #: Only for members neither stored nor deflated (bzip2, lzma) and ``open_member``: built
        #: on first need, so reading a normal wheel never parses its directory a second time.
        self._zf: zipfile.ZipFile | None = None
        self._infos = infos
        self.metadata: WheelMetadata
        self._record: Mapping[str, tuple[str | None, int | None]] = {}
        #: Paths RECORD lists that the zip does not hold (a stale RECORD: warned about, not refused).
        self.stale_record: tuple[str, ...] = ()

    # -- opening and validation -------------------------------------------------------------------

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> WheelArchive:
        """Open ``path`` read-only; InvalidWheel (naming the file) if it is not a safe, valid wheel."""
        path = Path(path)
        label = os.fspath(path)
        try:
            name, version, build, tags = validate_filename(path.name)
        except MetadataError as err:
            raise InvalidWheel(str(err), subject=label) from None
        try:
            if not stat.S_ISREG(os.stat(path).st_mode):
                raise InvalidWheel("not a regular file", subject=label)
            fp: IO[bytes] = open(path, "rb")  # noqa: SIM115 - owned by the archive until close()
        except OSError as err:
            raise InvalidWheel(f"cannot open: {err.strerror or err}", subject=label) from None
        archive: WheelArchive | None = None
        try:
            try:
                infos, directory = read_central_directory(fp.fileno(), os.fstat(fp.fileno()).st_size)
            except MetadataError as err:
                raise InvalidWheel(str(err), subject=label) from None
            except ZIP_ERRORS as err:
                raise InvalidWheel(f"not a valid zip file ({err})", subject=label) from None
            archive = cls(path, fp, infos, directory)
            try:
                dist_info = find_dist_info(infos, name)
                wheel_data = archive._read_small(f"{dist_info}/WHEEL")
                wheel_tags, purelib = parse_wheel_file(_text(wheel_data, f"{dist_info}/WHEEL"))
                record_path = f"{dist_info}/RECORD"
                record = parse_record(_text(archive._read_small(record_path), record_path))
                stale = _check_record(infos, record, record_path)
            except MetadataError as err:
                raise InvalidWheel(str(err), subject=label) from None
            archive.metadata = WheelMetadata(
                filename=path.name,
                name=name,
                version=version,
                build=build,
                tags=tags,
                dist_info=dist_info,
                wheel_tags=wheel_tags,
                root_is_purelib=purelib,
            )
            archive._record = record
            archive.stale_record = stale
            for missing in stale:
                # pip and delvewheel install such wheels; a repaired wheel gets a RECORD of what it holds.
                log.warning(
                    "%s: RECORD lists %r, which is not in the wheel; a repaired wheel gets a new RECORD",
                    path.name,
                    missing,
                )
            archive._verify_bytes(archive.metadata.wheel_path, wheel_data)
        except BaseException:
            if archive is not None:
                archive.close()
            else:
                fp.close()
            raise
        return archive

    def _read_small(self, member: str) -> bytes:
        """Read a metadata member whole (WHEEL, RECORD), refusing implausible sizes."""
        info = self._infos.get(member)
        if info is None:
            raise MetadataError(f"no {member}")
        if info.file_size > MAX_METADATA_SIZE:
            raise MetadataError(f"{member} is implausibly large ({info.file_size} bytes)")
        with self._reading(member):
            return b"".join(self._inflate(member))

    # -- reading ----------------------------------------------------------------------------------

    def _info(self, member: str) -> MemberInfo:
        try:
            return self._infos[member]
        except KeyError:
            raise KeyError(f"{self._label}: no member {member!r}") from None

    @contextmanager
    def _reading(self, member: str) -> Iterator[None]:
        """Turn decompression and zip structure failures into one-line InvalidWheel errors."""
        try:
            yield
        except ZIP_ERRORS as err:
            raise InvalidWheel(f"cannot read {member!r}: {err}", subject=self._label) from None

    def _zipfile(self) -> zipfile.ZipFile:
        """zipfile's view of the wheel, for what only zipfile reads (bzip2, lzma, ``open_member``).
        It shares the file position: not for use in forked workers (they read with ``os.pread``)."""
        if self._zf is None:
            self._zf = zipfile.ZipFile(self._fp)
        return self._zf

    def size(self, member: str) -> int:
        """Uncompressed size of ``member``."""
        return self._info(member).file_size

    @functools.cached_property
    def sizes(self) -> Mapping[str, int]:
        """Uncompressed size of every member, by name (built once: torch's 12,000 members are
        summed and looked up by the scan, the size report and the writer)."""
        return MappingProxyType({name: info.file_size for name, info in self._infos.items()})

    def compressed_at_least(self, size: int) -> list[str]:
        """The members whose compressed data is at least ``size`` bytes, in archive order (the
        writer looks for its largest; one pass, no table of 12,000 sizes built for it)."""
        return [name for name, info in self._infos.items() if info.compress_size >= size]

    @functools.cached_property
    def total_size(self) -> int:
        """Uncompressed size of all members together."""
        return sum(self.sizes.values())

    def zipinfo(self, member: str) -> MemberInfo:
        """The central directory entry of ``member`` (mode, timestamps, sizes, offsets)."""
        return self._info(member)

    def head(self, member: str, n: int = 64) -> bytes:
        """The first ``n`` bytes of ``member``, decompressing no more than needed.

        Sniffing reads this for every member of the wheel, so it inflates straight from the member's
        raw bytes instead of going through ``zipfile.ZipFile.open`` (several times slower per call).
        """
        info = self._info(member)
        if info.file_size == 0 or n <= 0:
            return b""
        if info.compress_type in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            quick = self._quick_head(info, n)
            if quick is not None:
                return quick
        with self._reading(member):
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                self.raw_span(member)
                with self._zipfile().open(member) as stream:
                    return stream.read(n)
            offset, length = self.raw_span(member)
            if info.compress_type == zipfile.ZIP_STORED:
                return os.pread(self._fd, min(n, length), offset)
            inflater = compression.inflater()
            out = b""
            pos = 0
            while len(out) < n and pos < length and not inflater.eof:
                chunk = os.pread(self._fd, min(_HEAD_CHUNK, length - pos), offset + pos)
                if not chunk:
                    break
                pos += len(chunk)
                out += inflater.decompress(inflater.unconsumed_tail + chunk, n - len(out))
            return out[:n]

    def _quick_head(self, info: MemberInfo, n: int) -> bytes | None:
        """``head`` in one read of the local header and the first compressed bytes, with the
        standard zlib (the fastest to set up for a few bytes); None when that read is not enough
        (a long extra field, or more input needed) or on any error, which the long way reports.
        The local header it checked is kept for ``raw_span`` (the writer's copy then needs no read)."""
        expected = info.raw_name
        fixed = _LOCAL_HEADER.size + len(expected)
        try:
            block = os.pread(self._fd, fixed + _QUICK_SLACK, info.header_offset)
        except OSError:
            return None
        if len(block) < fixed:
            return None
        magic, *_, name_len, extra_len = _LOCAL_HEADER.unpack_from(block)
        if magic != _LOCAL_MAGIC or block[_LOCAL_HEADER.size : fixed] != expected or name_len != len(expected):
            return None
        start = fixed + extra_len
        if info.data_offset < 0:
            whole = extra_len <= _EXTRA_SLACK and start <= len(block)
            self._keep_local(info, start, block[:start] if whole else b"")
        data = block[start : start + info.compress_size]
        if info.compress_type == zipfile.ZIP_STORED:
            wanted = min(n, info.compress_size)
            return data[:n] if len(data) >= wanted else None
        try:
            out = zlib.decompressobj(-zlib.MAX_WBITS).decompress(data, n)
        except zlib.error:
            return None
        return out if len(out) == min(n, info.file_size) else None

    def read(self, member: str) -> bytes:
        """The whole content of ``member``, checked against its RECORD hash."""
        with self._reading(member):
            data = b"".join(self._inflate(member))
        self._verify_bytes(member, data)
        return data

    def open_member(self, member: str) -> IO[bytes]:
        """A stream over ``member``'s content. Read errors raise InvalidWheel; reading it front to back
        to the end also checks the RECORD hash (a seek turns that check off)."""
        info = self._info(member)
        self.raw_span(member)
        with self._reading(member):
            inner = self._zipfile().open(member)
        return cast("IO[bytes]", _MemberStream(self, member, inner, info.file_size))

    def extract(self, member: str, dest: str | os.PathLike[str]) -> None:
        """Write ``member`` to ``dest`` in bounded chunks, checking its RECORD hash on the way."""
        digest = self._record.get(member, (None, None))[0]
        algorithm = digest.partition("=")[0] if digest else "sha256"
        hasher = hashlib.new(algorithm)
        with self._reading(member), open(dest, "wb") as out:
            for chunk in self._inflate(member):
                hasher.update(chunk)
                out.write(chunk)
        if digest is not None:
            self._compare(member, encode_digest(algorithm, hasher.digest()))

    def _inflate(self, member: str) -> Iterator[bytes]:
        """``member``'s content in bounded chunks. Stored and deflated members are read straight from
        their raw bytes with ``os.pread`` (no shared file position, so a forked worker may use an
        inherited archive), inflated with the fastest forward inflater installed (ISA-L, else
        zlib-ng, ~1.7x zipfile's zlib), and their CRC checked; other methods go through zipfile."""
        info = self._info(member)
        offset, length = self.raw_span(member)
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            with self._zipfile().open(member) as stream:
                while chunk := stream.read(CHUNK_SIZE):
                    yield chunk
            return
        fd = self._fd
        if info.compress_type == zipfile.ZIP_STORED:
            crc = pos = 0
            while pos < length:
                chunk = os.pread(fd, min(CHUNK_SIZE, length - pos), offset + pos)
                if not chunk:
                    break
                pos += len(chunk)
                crc = compression.crc32(chunk, crc)
                yield chunk
            if pos != info.file_size or crc != info.CRC:
                raise zipfile.BadZipFile(f"bad CRC or size for {member!r} (corrupt or truncated)")
            return
        inflater = compression.forward_inflater()
        crc = size = pos = 0
        while pos < length and not inflater.eof:
            data = os.pread(fd, min(CHUNK_SIZE, length - pos), offset + pos)
            if not data:
                break
            pos += len(data)
            while data:
                chunk = inflater.decompress(data, CHUNK_SIZE)
                data = inflater.unconsumed_tail
                crc = compression.crc32(chunk, crc)
                size += len(chunk)
                yield chunk
        if not inflater.eof or size != info.file_size or crc != info.CRC:
            raise zipfile.BadZipFile(f"bad CRC or size for {member!r} (corrupt or truncated)")

    def record(self) -> Mapping[str, tuple[str | None, int | None]]:
        """RECORD as ``{member: (hash "algo=...", size)}`` (both None for RECORD itself)."""
        return MappingProxyType(self._record)

    def verify_record(self, members: Iterable[str] | None = None) -> None:
        """Hash ``members`` (default: all) in bounded chunks; InvalidWheel on the first mismatch."""
        for member in self.members if members is None else members:
            digest = self._record.get(member, (None, None))[0]
            if digest is None:
                continue
            algorithm = digest.partition("=")[0]
            hasher = hashlib.new(algorithm)
            with self._reading(member):
                for chunk in self._inflate(member):
                    hasher.update(chunk)
            self._compare(member, encode_digest(algorithm, hasher.digest()))

    def record_algorithm(self, member: str) -> str | None:
        """The hash algorithm RECORD names for ``member`` (None: RECORD gives it no hash)."""
        digest = self._record.get(member, (None, None))[0]
        return digest.partition("=")[0] if digest else None

    def check_digest(self, member: str, algorithm: str, digest: bytes) -> None:
        """InvalidWheel unless ``digest`` (of ``member``'s whole content) is the one RECORD lists."""
        self._compare(member, encode_digest(algorithm, digest))

    def reading(self, member: str) -> AbstractContextManager[None]:
        """Reading ``member`` here turns decompression and zip errors into one-line InvalidWheel errors."""
        return self._reading(member)

    def _verify_bytes(self, member: str, data: bytes) -> None:
        digest = self._record.get(member, (None, None))[0]
        if digest is not None:
            algorithm = digest.partition("=")[0]
            self._compare(member, encode_digest(algorithm, hashlib.new(algorithm, data).digest()))

    def _compare(self, member: str, actual: str) -> None:
        expected = self._record[member][0] or ""
        if actual.rstrip("=") != expected.rstrip("="):
            raise InvalidWheel(f"RECORD hash mismatch for {member!r}", subject=self._label)

    # -- raw access for the writer ------------------------------------------------------------------

    def raw_span(self, member: str) -> tuple[int, int]:
        """(offset, length) of ``member``'s compressed bytes in the wheel file, from its local header."""
        info = self._info(member)
        if info.data_offset < 0:
            self._read_local_header(info)
        return info.data_offset, info.compress_size

    def raw_entries(self, members: Iterable[str]) -> list[MemberInfo]:
        """The directory entries of ``members`` with what their local headers say: where the
        compressed bytes start (``data_offset``) and the header as stored (``local``: fixed part,
        name and extra field; b"" when the extra field is long), each checked against the
        central directory (read now unless a scan worker already did)."""
        table = self._infos
        try:
            infos = [table[member] for member in members]
        except KeyError:
            infos = [self._info(member) for member in members]  # names the member that is not there
        for info in infos:
            if info.data_offset < 0:
                self._read_local_header(info)
        return infos

    def local_headers(self, members: Iterable[str]) -> list[LocalHeader]:
        """What was learnt from the local headers of ``members``, for ``learn_local_headers`` in
        another process. Headers not read yet (sniffing skips empty members: torch has 98) are read
        now, so the writer finds them all; one that does not check out is left for the reader that
        needs it to report."""
        infos = self._infos
        for member in members:
            info = infos[member]
            if info.data_offset < 0:
                with suppress(InvalidWheel):
                    self._read_local_header(info)
        return [
            (m, info.data_offset, info.local, info.plain)
            for m in members
            if (info := infos[m]).data_offset >= 0
        ]

    def learn_local_headers(self, headers: Iterable[LocalHeader]) -> None:
        """Take what another process read from local headers of this same file (a forked scan
        worker, which checked each against the central directory) instead of reading them again."""
        infos = self._infos
        for member, data_offset, local, plain in headers:
            info = infos[member]
            if info.data_offset < 0:
                info.data_offset, info.local, info.plain = data_offset, local, plain

    def _read_local_header(self, info: MemberInfo) -> None:
        """Read and check ``info``'s local header in one read, and keep what it says. What its
        extra field holds is not needed (zipfile does not read it either), only its length; a
        cache filled in a forked worker stays there, it only saves a read."""
        expected = info.raw_name
        fixed = _LOCAL_HEADER.size + len(expected)
        block = os.pread(self._fd, fixed + _EXTRA_SLACK, info.header_offset)
        if len(block) < _LOCAL_HEADER.size:
            raise InvalidWheel(f"truncated local header of {info.filename!r}", subject=self._label)
        magic, *_, name_len, extra_len = _LOCAL_HEADER.unpack_from(block)
        if magic != _LOCAL_MAGIC or name_len != len(expected) or block[_LOCAL_HEADER.size : fixed] != expected:
            raise InvalidWheel(
                f"local header of {info.filename!r} does not match the central directory", subject=self._label
            )
        whole = fixed + extra_len
        self._keep_local(info, whole, block[:whole] if whole <= len(block) else b"")

    def _keep_local(self, info: MemberInfo, length: int, local: bytes) -> None:
        """Keep what ``info``'s checked local header says: its ``length`` and its bytes (b"" when
        not all read), and whether it is plain (``zipdir.plain_local``)."""
        info.data_offset = info.header_offset + length
        info.local = local
        info.plain = plain_local(info, local, self.central_directory)

    def changed_on_disk(self) -> bool:
        """True if ``path`` no longer names the file that was opened (deleted, replaced, rewritten).
        Reading goes on from the open file either way; the writer asks before it publishes."""
        try:
            return _identity(os.stat(self.path)) != self.identity
        except OSError:
            return True

    def fileno(self) -> int:
        """File descriptor of the open wheel (read it with os.pread only: it is shared)."""
        return self._fd

    # -- lifetime ---------------------------------------------------------------------------------

    def close(self) -> None:
        if self._zf is not None:
            self._zf.close()
        self._fp.close()

    def __enter__(self) -> WheelArchive:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"WheelArchive({self._label!r})"


class _MemberStream(io.BufferedIOBase):
    """A member's decompressed content; hashes what is read in order and checks it at the end."""

    def __init__(self, archive: WheelArchive, member: str, inner: IO[bytes], size: int) -> None:
        super().__init__()
        self._archive = archive
        self._member = member
        self._inner = inner
        self._size = size
        self._pos = 0
        digest = archive._record.get(member, (None, None))[0]
        self._algorithm = digest.partition("=")[0] if digest else ""
        self._hasher = hashlib.new(self._algorithm) if digest else None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return self._inner.seekable()

    def read(self, size: int | None = -1) -> bytes:
        with self._archive._reading(self._member):
            data = self._inner.read(-1 if size is None else size)
        self._track(data)
        return data

    def read1(self, size: int = -1) -> bytes:
        return self.read(size)

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        with self._archive._reading(self._member):
            position = self._inner.seek(offset, whence)
        if position != self._pos:
            self._hasher = None  # no longer a front-to-back read
        self._pos = position
        return position

    def tell(self) -> int:
        return self._pos

    def close(self) -> None:
        self._inner.close()
        super().close()

    def _track(self, data: bytes) -> None:
        self._pos += len(data)
        if self._hasher is not None:
            self._hasher.update(data)
            if self._pos >= self._size:
                hasher, self._hasher = self._hasher, None
                self._archive._compare(self._member, encode_digest(self._algorithm, hasher.digest()))


def _identity(st: os.stat_result) -> tuple[int, int, int, int]:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _text(data: bytes, member: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise MetadataError(f"{member} is not UTF-8 text") from None


def _check_record(
    infos: Mapping[str, MemberInfo],
    record: Mapping[str, tuple[str | None, int | None]],
    record_path: str,
) -> tuple[str, ...]:
    """RECORD and the zip must list the same files with the same sizes. Paths RECORD lists that the
    zip lacks are returned: installers accept such a stale RECORD, and repair writes a new one."""
    unlisted = {record_path, *(f"{record_path.rsplit('/', 1)[0]}/{s}" for s in SIGNATURE_FILES)}
    stale: list[str] = []
    for path, (digest, size) in record.items():
        info = infos.get(path)
        if info is None:
            stale.append(path)
            continue
        if path in unlisted:
            continue
        if digest is None:
            raise MetadataError(f"RECORD has no hash for {path!r}")
        if size is not None and size != info.file_size:
            raise MetadataError(f"RECORD gives {path!r} {size} bytes, the zip {info.file_size}")
    if not infos.keys() - record.keys() <= unlisted:
        unrecorded = next(m for m in infos if m not in record and m not in unlisted)
        raise MetadataError(f"member {unrecorded!r} is not listed in RECORD")
    return tuple(stale)
