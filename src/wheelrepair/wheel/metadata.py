"""A wheel's identity: its filename, WHEEL file, RECORD, dist-info lookup and installed layout."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from packaging.tags import Tag, parse_tag
from packaging.utils import canonicalize_name, parse_wheel_filename

#: RECORD files that sign RECORD itself and therefore cannot be listed in it.
SIGNATURE_FILES = ("RECORD.jws", "RECORD.p7s")

#: Hash algorithms a RECORD may use (PEP 376/427: sha256 or stronger; md5 and sha1 are refused).
RECORD_ALGORITHMS = frozenset(hashlib.algorithms_guaranteed) - {"md5", "sha1"}

#: Installation schemes of ``<dist>.data/`` whose files land in site-packages itself.
_SITE_SCHEMES = ("platlib", "purelib")


class MetadataError(ValueError):
    """Malformed wheel metadata; the archive layer adds the wheel's name and raises InvalidWheel."""


@dataclass(frozen=True)
class WheelMetadata:
    """What a wheel says about itself in its filename and its WHEEL file."""

    filename: str
    name: str
    version: str
    build: str | None
    tags: frozenset[Tag]
    dist_info: str
    wheel_tags: tuple[str, ...]
    root_is_purelib: bool

    @property
    def platform_tags(self) -> tuple[str, ...]:
        """Distinct platform parts of the filename tags, in the order the filename lists them."""
        return tuple(dict.fromkeys(_filename_fields(self.filename)[-1].split(".")))

    @property
    def data_dir(self) -> str:
        """The ``<name>-<version>.data`` directory matching the dist-info (it may be absent)."""
        return self.dist_info[: -len(".dist-info")] + ".data"

    @property
    def record_path(self) -> str:
        return f"{self.dist_info}/RECORD"

    @property
    def wheel_path(self) -> str:
        return f"{self.dist_info}/WHEEL"


def _filename_fields(filename: str) -> list[str]:
    """Split a (validated) wheel filename into name, version, [build,] python, abi, platform."""
    return filename[: -len(".whl")].split("-")


def validate_filename(filename: str) -> tuple[str, str, str | None, frozenset[Tag]]:
    """Return (name, version, build, tags) as written in ``filename``; MetadataError if it is not a
    valid wheel filename."""
    try:
        parse_wheel_filename(filename)
    except ValueError as err:  # InvalidWheelFilename, InvalidVersion
        raise MetadataError(f"not a valid wheel filename ({err})") from None
    fields = _filename_fields(filename)
    build = fields[2] if len(fields) == 6 else None
    tags = frozenset(parse_tag("-".join(fields[-3:])))
    return fields[0], fields[1], build, tags


def find_dist_info(members: Iterable[str], name: str) -> str:
    """Return the one top-level ``*.dist-info`` directory of distribution ``name`` among ``members``."""
    found = sorted(
        {top for top in {m[: m.find("/")] for m in members if "/" in m} if top.endswith(".dist-info")}
    )
    if not found:
        raise MetadataError("no .dist-info directory")
    if len(found) > 1:
        raise MetadataError(f"more than one .dist-info directory: {', '.join(found)}")
    dist_name = found[0][: -len(".dist-info")].split("-")[0]
    if canonicalize_name(dist_name) != canonicalize_name(name):
        raise MetadataError(f".dist-info directory {found[0]!r} does not belong to distribution {name!r}")
    return found[0]


def _header_lines(text: str) -> list[tuple[str, str]]:
    """``Key: value`` lines of an RFC 822 style header block (WHEEL); stops at the first blank line."""
    headers = []
    for line in text.splitlines():
        if not line.strip():
            break
        key, sep, value = line.partition(":")
        if not sep or not key.strip():
            raise MetadataError(f"WHEEL: malformed line {line!r}")
        headers.append((key.strip().lower(), value.strip()))
    return headers


def _body_tags(text: str) -> tuple[str, ...]:
    """``Tag:`` lines after the header block's first blank line (a body, to an RFC 822 parser)."""
    lines = text.splitlines()
    blank = next((i for i, line in enumerate(lines) if not line.strip()), len(lines))
    return tuple(
        line.partition(":")[2].strip()
        for line in lines[blank + 1 :]
        if line.partition(":")[0].strip().lower() == "tag" and line.partition(":")[1]
    )


def parse_wheel_file(text: str) -> tuple[tuple[str, ...], bool]:
    """Check a WHEEL file and return its ``Tag`` values (in order) and ``Root-Is-Purelib``.

    Lenient where auditwheel and pip are: ``Tag`` lines that follow a blank line (so an RFC 822
    parser sees them as a body) are still read as tags when the header block has none; repair
    writes them back into the header block.
    """
    headers = _header_lines(text)
    if not any(k == "tag" for k, _ in headers):
        headers += [("tag", tag) for tag in _body_tags(text)]
    versions = [v for k, v in headers if k == "wheel-version"]
    if len(versions) != 1:
        raise MetadataError(
            "WHEEL: no Wheel-Version" if not versions else "WHEEL: several Wheel-Version lines"
        )
    if versions[0].split(".")[0] != "1":
        raise MetadataError(f"WHEEL: unsupported Wheel-Version {versions[0]} (only 1.x is known)")
    tags = tuple(v for k, v in headers if k == "tag")
    if not tags:
        raise MetadataError("WHEEL: no Tag line")
    for tag in tags:
        parts = tag.split("-")
        if len(parts) != 3 or not all(parts) or "." in tag:
            raise MetadataError(f"WHEEL: invalid Tag {tag!r}")
    purelib = [v.lower() for k, v in headers if k == "root-is-purelib"]
    if any(v not in ("true", "false") for v in purelib):
        raise MetadataError(f"WHEEL: invalid Root-Is-Purelib {purelib[0]!r}")
    return tags, purelib[:1] == ["true"]


def rewrite_wheel_file(text: str, tags: Sequence[str]) -> str:
    """Return the WHEEL file ``text`` with its Tag lines replaced by ``tags`` (placed where the first Tag
    line was; other lines kept in order; newlines normalized to ``\\n``)."""
    out: list[str] = []
    placed = False
    lines = text.splitlines()
    blank = next((i for i, line in enumerate(lines) if not line.strip()), len(lines))
    if not any(line.partition(":")[0].strip().lower() == "tag" for line in lines[:blank]) and _body_tags(text):
        # The tags sat after a blank line: write them at the end of the header block instead.
        out.extend(line for line in lines[:blank])
        out.extend(f"Tag: {tag}" for tag in tags)
        placed = True
        lines = lines[blank:]
    for line in lines:
        if line.partition(":")[0].strip().lower() == "tag":
            if not placed:
                out.extend(f"Tag: {tag}" for tag in tags)
                placed = True
            continue
        out.append(line)
    while out and not out[-1].strip():
        out.pop()
    if not placed:
        out.extend(f"Tag: {tag}" for tag in tags)
    return "\n".join(out) + "\n"


def installed_path(member: str, meta: WheelMetadata) -> str | None:
    """Where ``member`` lands relative to site-packages once installed: ``<dist>.data/platlib/x`` and
    ``.../purelib/x`` become ``x``, plain members are unchanged, other schemes (scripts, headers,
    data) land outside site-packages and give None."""
    prefix = meta.data_dir + "/"
    if not member.startswith(prefix):
        return member
    scheme, _, rest = member[len(prefix) :].partition("/")
    return rest if scheme in _SITE_SCHEMES and rest else None


def retag(meta: WheelMetadata, platform_tags: Sequence[str]) -> tuple[str, tuple[str, ...]]:
    """New filename and WHEEL Tag lines for ``meta`` with its platform replaced by ``platform_tags``:
    every (python, abi) pair of the filename combined with each platform, in the order given."""
    plats = tuple(dict.fromkeys(platform_tags))
    if not plats or any(not p or "-" in p or "." in p for p in plats):
        raise ValueError(f"invalid platform tags {list(platform_tags)!r}")
    fields = _filename_fields(meta.filename)
    pythons, abis = fields[-3].split("."), fields[-2].split(".")
    filename = "-".join([*fields[:-1], ".".join(plats)]) + ".whl"
    lines = tuple(f"{py}-{abi}-{plat}" for py in pythons for abi in abis for plat in plats)
    return filename, lines


def record_hash(data: bytes) -> str:
    """The RECORD form of ``data``'s digest: ``sha256=<urlsafe base64, no padding>``."""
    return encode_digest("sha256", hashlib.sha256(data).digest())


def encode_digest(algorithm: str, digest: bytes) -> str:
    return f"{algorithm}=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def parse_record(text: str) -> dict[str, tuple[str | None, int | None]]:
    """RECORD rows as ``{path: (hash or None, size or None)}``; MetadataError on malformed rows."""
    rows: dict[str, tuple[str | None, int | None]] = {}
    lines: Iterable[list[str]]
    if '"' in text or "\r" in text:
        lines = csv.reader(io.StringIO(text, newline=""))
    else:
        # Without quotes or carriage returns, CSV is lines split at commas (torch's 12,000 rows:
        # 6 ms instead of 12 ms through the csv module).
        lines = [line.split(",") for line in text.split("\n")]
    try:
        for number, row in enumerate(lines, start=1):
            if len(row) != 3:
                if not row or row == [""]:
                    continue
                raise MetadataError(f"RECORD line {number}: expected 3 fields, found {len(row)}")
            path, digest, size = row
            if path in rows:
                raise MetadataError(f"RECORD lists {path!r} twice")
            if digest and not (digest.startswith("sha256=") and len(digest) > 7):
                algorithm, sep, value = digest.partition("=")
                if not sep or not value:
                    raise MetadataError(f"RECORD line {number}: malformed hash {digest!r}")
                if algorithm not in RECORD_ALGORITHMS:
                    raise MetadataError(f"RECORD line {number}: hash algorithm {algorithm!r} not allowed")
            if size and not size.isdecimal():
                raise MetadataError(f"RECORD line {number}: malformed size {size!r}")
            rows[path] = (digest or None, int(size) if size else None)
    except csv.Error as err:
        raise MetadataError(f"RECORD is not valid CSV ({err})") from None
    return rows


def unquoted_record_lines(text: str, rows: int) -> bool:
    """Whether ``text``, ``rows`` RECORD lines joined as ``path,hash,size\\n`` without quoting, is
    valid CSV as it stands. Only a row holding a comma, quote or line break of its own needs the
    csv module's quoting; when the whole text has no more of them than the rows' own, none does
    (one check for torch's 12,000 rows instead of one per row)."""
    return text.count(",") == 2 * rows and text.count("\n") == rows and '"' not in text and "\r" not in text


def format_record(rows: Iterable[tuple[str, str | None, int | None]]) -> bytes:
    """Serialize RECORD rows (path, hash, size) as CSV with ``\\n`` line ends."""
    table = list(rows)
    text = "".join([f"{path},{digest or ''},{'' if size is None else size}\n" for path, digest, size in table])
    if unquoted_record_lines(text, len(table)):
        return text.encode("utf-8")
    lines = []
    quoted = io.StringIO()
    writer = csv.writer(quoted, lineterminator="\n")
    for path, digest, size in table:
        line = f"{path},{digest or ''},{'' if size is None else size}\n"
        if line.count(",") != 2 or '"' in line or "\r" in line or line.count("\n") != 1:
            writer.writerow((path, digest or "", "" if size is None else size))
            line = quoted.getvalue()
            quoted.seek(0)
            quoted.truncate()
        lines.append(line)
    return "".join(lines).encode("utf-8")
