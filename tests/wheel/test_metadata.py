"""Wheel identity: filename and WHEEL parsing, retagging, RECORD, installed layout."""

from __future__ import annotations

import csv
import hashlib
import io
from pathlib import Path

import pytest
from packaging.tags import Tag

from wheelrepair.wheel.archive import WheelArchive
from wheelrepair.wheel.metadata import (
    MetadataError,
    WheelMetadata,
    format_record,
    installed_path,
    parse_record,
    parse_wheel_file,
    record_hash,
    retag,
    rewrite_wheel_file,
    validate_filename,
)


def meta_for(filename: str, dist_info: str = "demo-1.0.dist-info") -> WheelMetadata:
    name, version, build, tags = validate_filename(filename)
    return WheelMetadata(filename, name, version, build, tags, dist_info, (), False)


def test_filename_fields_are_kept_as_written() -> None:
    name, version, build, tags = validate_filename("PyYAML-6.0.2-1abc-cp311-cp311-manylinux_2_17_x86_64.whl")
    assert (name, version, build) == ("PyYAML", "6.0.2", "1abc")
    assert tags == {Tag("cp311", "cp311", "manylinux_2_17_x86_64")}


@pytest.mark.parametrize(
    "filename",
    [
        "demo.whl",
        "demo-1.0.whl",
        "demo-1.0-py3-none.whl",
        "demo-1.0-py3-none-any.zip",
        "demo-not!a!version-py3-none-any.whl",
    ],
)
def test_invalid_filenames_are_refused(filename: str) -> None:
    with pytest.raises(MetadataError, match="not a valid wheel filename"):
        validate_filename(filename)


def test_platform_tags_follow_the_filename_order() -> None:
    meta = meta_for(
        "demo-1.0-cp311-cp311-manylinux_2_28_x86_64.manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
    )
    assert meta.platform_tags == ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")


def test_retag_compresses_tag_sets_and_keeps_the_build_tag() -> None:
    meta = meta_for("demo-1.0-7-cp311.cp312-abi3-linux_x86_64.whl")
    filename, lines = retag(meta, ["manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux_2_17_x86_64"])
    assert filename == "demo-1.0-7-cp311.cp312-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
    assert lines == (
        "cp311-abi3-manylinux_2_17_x86_64",
        "cp311-abi3-manylinux2014_x86_64",
        "cp312-abi3-manylinux_2_17_x86_64",
        "cp312-abi3-manylinux2014_x86_64",
    )
    # The new filename is itself a valid wheel name describing exactly the new tag lines.
    assert {str(t) for t in validate_filename(filename)[3]} == set(lines)


@pytest.mark.parametrize("bad", [[], ["a-b"], ["x.y"], [""]])
def test_retag_refuses_invalid_platforms(bad: list[str]) -> None:
    with pytest.raises(ValueError, match="invalid platform tags"):
        retag(meta_for("demo-1.0-py3-none-any.whl"), bad)


@pytest.mark.parametrize(
    ("member", "expected"),
    [
        ("demo/_ext.so", "demo/_ext.so"),
        ("demo-1.0.data/platlib/demo/_ext.so", "demo/_ext.so"),
        ("demo-1.0.data/purelib/demo/x.py", "demo/x.py"),
        ("demo-1.0.data/scripts/tool", None),
        ("demo-1.0.data/headers/demo.h", None),
        ("demo-1.0.data/data/share/x", None),
        ("demo-1.0.dist-info/METADATA", "demo-1.0.dist-info/METADATA"),
    ],
)
def test_installed_path_maps_data_schemes(member: str, expected: str | None) -> None:
    assert installed_path(member, meta_for("demo-1.0-py3-none-any.whl")) == expected


def test_wheel_file_tags_and_purelib_are_read_in_order() -> None:
    text = "Wheel-Version: 1.0\nGenerator: x\nRoot-Is-Purelib: True\nTag: cp311-cp311-a\nTag: cp311-cp311-b\n"
    assert parse_wheel_file(text) == (("cp311-cp311-a", "cp311-cp311-b"), True)


def test_record_is_written_as_the_csv_module_writes_it() -> None:
    rows = [
        ("a.py", record_hash(b"x"), 1),
        ("b c/d.py", None, None),
        ("a,b.py", record_hash(b"y"), 22),
        ('quote"d.py', "sha256=abc", 3),
        ("cr\rlf\n.py", "sha256=a,b", 0),
        ("caf\u00e9.py", "sha256=abc", 4),
        ("demo-1.0.dist-info/RECORD", None, None),
    ]
    # All rows, and those that need no quoting (written in one join, without the csv module).
    plain = [row for row in rows if not any(c in row[0] + (row[1] or "") for c in ',"\r\n')]
    assert len(plain) == 4
    for table in (rows, plain):
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        for path, digest, size in table:
            writer.writerow((path, digest or "", "" if size is None else size))
        assert format_record(table) == buffer.getvalue().encode("utf-8")
        assert parse_record(format_record(table).decode()) == {p: (d, n) for p, d, n in table}


def test_record_line_ends_and_quoting_do_not_change_the_rows() -> None:
    """Plain lines are split at commas without the csv module: the same rows as through it."""
    plain = "a.py,sha256=abc,1\n\nb/c.py,,\nd.dist-info/RECORD,,\n"
    expected = {"a.py": ("sha256=abc", 1), "b/c.py": (None, None), "d.dist-info/RECORD": (None, None)}
    assert parse_record(plain) == expected
    assert parse_record(plain.replace("\n", "\r\n")) == expected
    assert parse_record(plain.replace("b/c.py", '"b/c.py"')) == expected


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("Wheel-Version: 2.0\nTag: py3-none-any\n", "unsupported Wheel-Version 2.0"),
        ("Tag: py3-none-any\n", "no Wheel-Version"),
        ("Wheel-Version: 1.0\nRoot-Is-Purelib: true\n", "no Tag"),
        ("Wheel-Version: 1.0\nTag: py3-none\n", "invalid Tag"),
        ("Wheel-Version: 1.0\nTag: py3-none-any\nRoot-Is-Purelib: maybe\n", "invalid Root-Is-Purelib"),
        ("Wheel-Version: 1.0\nthis is not a header\n", "malformed line"),
    ],
)
def test_invalid_wheel_files_are_refused(text: str, problem: str) -> None:
    with pytest.raises(MetadataError, match=problem):
        parse_wheel_file(text)


def test_rewrite_wheel_file_replaces_only_the_tag_lines() -> None:
    text = "Wheel-Version: 1.0\r\nGenerator: bdist_wheel\r\nTag: cp311-cp311-linux_x86_64\r\nBuild: 7\r\n"
    new = rewrite_wheel_file(text, ["cp311-cp311-manylinux_2_17_x86_64", "cp311-cp311-manylinux2014_x86_64"])
    assert new == (
        "Wheel-Version: 1.0\nGenerator: bdist_wheel\nTag: cp311-cp311-manylinux_2_17_x86_64\n"
        "Tag: cp311-cp311-manylinux2014_x86_64\nBuild: 7\n"
    )
    assert parse_wheel_file(new)[0] == (
        "cp311-cp311-manylinux_2_17_x86_64",
        "cp311-cp311-manylinux2014_x86_64",
    )


def test_record_hash_is_urlsafe_base64_without_padding() -> None:
    assert record_hash(b"") == "sha256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"


def test_record_round_trips_paths_with_commas() -> None:
    rows = [("a,b.py", record_hash(b"x"), 1), ("demo-1.0.dist-info/RECORD", None, None)]
    text = format_record(rows).decode()
    assert text.splitlines()[0].startswith('"a,b.py",sha256=')
    assert parse_record(text) == {"a,b.py": (record_hash(b"x"), 1), "demo-1.0.dist-info/RECORD": (None, None)}


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("a.py,sha256=abc\n", "expected 3 fields"),
        ("a.py,sha256=abc,1\na.py,sha256=abc,1\n", "twice"),
        ("a.py,md5=abc,1\n", "'md5' not allowed"),
        ("a.py,sha256,1\n", "malformed hash"),
        ("a.py,sha256=abc,-1\n", "malformed size"),
        ("a.py,sha256=abc,\u00b2\n", "malformed size"),  # a digit to str.isdigit, not to int()
        ('"' + "a" * 200_000 + '",sha256=abc,1\n', "not valid CSV"),  # past the csv field limit
    ],
)
def test_malformed_record_is_refused(text: str, problem: str) -> None:
    with pytest.raises(MetadataError, match=problem):
        parse_record(text)


def test_metadata_of_a_built_wheel(demo_wheel: Path) -> None:
    with WheelArchive.open(demo_wheel) as wheel:
        meta = wheel.metadata
    assert meta.filename == demo_wheel.name
    assert (meta.name, meta.version, meta.build) == ("demo", "1.0", None)
    assert meta.tags == {Tag("py3", "none", "any")}
    assert meta.dist_info == "demo-1.0.dist-info"
    assert meta.wheel_tags == ("py3-none-any",)
    assert meta.root_is_purelib is True
    assert meta.platform_tags == ("any",)


def test_record_hash_matches_hashlib() -> None:
    data = b"wheel" * 1000
    digest = hashlib.sha256(data).hexdigest()
    import base64

    decoded = base64.urlsafe_b64decode(record_hash(data).split("=", 1)[1] + "=")
    assert decoded.hex() == digest
