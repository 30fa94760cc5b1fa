"""What this machine's glibc loader substitutes for ``$PLATFORM``.

The kernel passes AT_PLATFORM in the auxiliary vector (read here from ``/proc/self/auxv``, the
string itself from ``/proc/self/mem``). glibc (2.26 and later) then overrides it on Intel x86-64
CPUs: ``xeon_phi`` when AVX512ER and AVX512PF are usable, else ``haswell`` when AVX2, FMA, BMI1,
BMI2, LZCNT, MOVBE and POPCNT all are. The CPU's features are read from ``/proc/cpuinfo`` (the
kernel lists only what it lets processes use). GLIBC_TUNABLES masks are not applied.
"""

from __future__ import annotations

import os
import platform
import struct
from functools import cache

AT_NULL, AT_PLATFORM = 0, 15
#: ``platform.machine()`` -> our architecture names, for the machines whose name differs.
_MACHINE = {"amd64": "x86_64", "i386": "i686", "i586": "i686", "arm64": "aarch64"}
_HASWELL = ("avx2", "fma", "bmi1", "bmi2", "abm", "movbe", "popcnt")  # "abm" is how Linux lists LZCNT


def host_arch() -> str:
    machine = platform.machine().lower()
    return _MACHINE.get(machine, machine)


@cache
def host_platform() -> str | None:
    """``$PLATFORM`` as this machine's loader expands it, or None when it cannot be told."""
    kernel = _auxv_platform()
    if host_arch() == "x86_64":
        cpu = _cpuinfo()
        if cpu.get("vendor_id") == "GenuineIntel":
            flags = set(cpu.get("flags", "").split())
            if {"avx512cd", "avx512er", "avx512pf"} <= flags:
                return "xeon_phi"
            if flags.issuperset(_HASWELL):
                return "haswell"
    return kernel


def _auxv_platform() -> str | None:
    try:
        with open("/proc/self/auxv", "rb") as fh:
            raw = fh.read()
        word = struct.calcsize("P")
        pairs = struct.iter_unpack(f"{'Q' if word == 8 else 'I'}" * 2, raw)
        address = next((value for key, value in pairs if key == AT_PLATFORM), None)
        if not address:
            return None
        fd = os.open("/proc/self/mem", os.O_RDONLY)
        try:
            text = os.pread(fd, 64, address)
        finally:
            os.close(fd)
        return text.split(b"\0", 1)[0].decode("ascii") or None
    except (OSError, ValueError, UnicodeDecodeError):
        return None


def _cpuinfo() -> dict[str, str]:
    """The first processor's fields from /proc/cpuinfo."""
    fields: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if not line.strip():
                    break
                key, _, value = line.partition(":")
                fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    return fields
