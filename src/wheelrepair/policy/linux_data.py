"""Facts about manylinux and musllinux targets: provided libraries and allowed symbol versions.

The symbol-version tables say, per namespace (the part of a version name before the first '_') and
per architecture, in which manylinux_2_<minor> policy each version became allowed; a policy allows
every version introduced at or below its minor. A namespace listed here restricts every policy of an
architecture, so a version it does not list (e.g. GLIBC_PRIVATE) rules every policy out, and a
namespace whose versions all start later (LIBATOMIC on x86_64) allows none before that.
Architectures that share a timeline share a row ("aarch64 armv7l").
"""

from __future__ import annotations

#: glibc minor versions with a manylinux_2_<minor> policy, oldest first, and the legacy aliases.
GLIBC_MINORS = (5, 12, 17, 24, 26, 27, 28, 31, 34, 35, 36, 37, 38, 39, 40, 41)
LEGACY_ALIASES = {5: "manylinux1", 12: "manylinux2010", 17: "manylinux2014"}

#: The first manylinux minor with a policy for each architecture (ppc64, big endian, has only 2_17).
GLIBC_ARCH_FIRST = {
    "x86_64": 5,
    "i686": 5,
    "aarch64": 17,
    "ppc64le": 17,
    "s390x": 17,
    "armv7l": 17,
    "ppc64": 17,
    "riscv64": 31,
    "loongarch64": 36,
}
GLIBC_ARCH_LAST = {"ppc64": 17}

#: Libraries every manylinux system provides, and the ones added by later policies (by minor).
GLIBC_LIBRARIES = {
    5: (
        "libc.so.6 libm.so.6 libdl.so.2 librt.so.1 libpthread.so.0 libresolv.so.2 libutil.so.1 "
        "libanl.so.1 libnsl.so.1 libgcc_s.so.1 libstdc++.so.6 libatomic.so.1 libz.so.1 "
        "libX11.so.6 libXext.so.6 libXrender.so.1 libICE.so.6 libSM.so.6 libGL.so.1 "
        "libgobject-2.0.so.0 libgthread-2.0.so.0 libglib-2.0.so.0"
    ),
    12: "libexpat.so.1",
    24: "libmvec.so.1",
}

#: glibc's dynamic loader, per architecture; always provided (it is what runs the program).
GLIBC_LOADERS = {
    "x86_64": "ld-linux-x86-64.so.2",
    "i686": "ld-linux.so.2",
    "aarch64": "ld-linux-aarch64.so.1",
    "ppc64le": "ld64.so.2",
    "ppc64": "ld64.so.1",
    "s390x": "ld64.so.1",
    "armv7l": "ld-linux-armhf.so.3",
    "riscv64": "ld-linux-riscv64-lp64d.so.1",
    "loongarch64": "ld-linux-loongarch-lp64d.so.1",
}

#: musllinux_1_<minor> policies and the architectures each covers.
MUSL_MINORS = (1, 2)
MUSL_ARCHS = {
    1: ("x86_64", "i686", "aarch64", "ppc64le", "s390x", "armv7l", "riscv64"),
    2: ("x86_64", "i686", "aarch64", "ppc64le", "s390x", "armv7l", "riscv64", "loongarch64"),
}
#: musl's C library (libc.musl-<name>.so.1) and loader (ld-musl-<name>.so.1) names per architecture.
MUSL_LIBC_NAMES = {
    "x86_64": ("x86_64",),
    "i686": ("x86",),
    "aarch64": ("aarch64",),
    "ppc64le": ("ppc64le",),
    "s390x": ("s390x",),
    "armv7l": ("armv7", "armhf"),
    "riscv64": ("riscv64",),
    "loongarch64": ("loongarch64",),
}
MUSL_LOADER_NAMES = {
    "x86_64": "x86_64",
    "i686": "i386",
    "aarch64": "aarch64",
    "ppc64le": "powerpc64le",
    "s390x": "s390x",
    "armv7l": "armhf",
    "riscv64": "riscv64",
    "loongarch64": "loongarch64",
}
#: Besides libc, every musllinux system provides these.
MUSL_LIBRARIES = ("libz.so.1",)

#: namespace -> architectures -> lines "<minor>: versions allowed from manylinux_2_<minor> on".
SYMBOL_VERSIONS: dict[str, dict[str, str]] = {
    "GLIBC": {
        "x86_64": """
            5: 2.2.5 2.2.6 2.3 2.3.2 2.3.3 2.3.4 2.4 2.5
            12: 2.6 2.7 2.8 2.9 2.10 2.11 2.12
            17: 2.13 2.14 2.15 2.16 2.17
            24: 2.18 2.22 2.23 2.24
            26: 2.25 2.26
            27: 2.27
            28: 2.28
            31: 2.29 2.30 2.31
            34: 2.32 2.33 2.34
            35: 2.35
            36: 2.36 ABI_DT_RELR
            38: 2.38
            39: 2.39
            40: 2.40
            41: 2.41
        """,
        "i686": """
            5: 2.0 2.1 2.1.1 2.1.2 2.1.3 2.2 2.2.1 2.2.2 2.2.3 2.2.4 2.2.6 2.3 2.3.2 2.3.3 2.3.4 2.4 2.5
            12: 2.6 2.7 2.8 2.9 2.10 2.11 2.12
            17: 2.13 2.14 2.15 2.16 2.17
            24: 2.18 2.22 2.23 2.24
            26: 2.25 2.26
            27: 2.27
            28: 2.28
            31: 2.29 2.30 2.31
            34: 2.32 2.33 2.34
            35: 2.35
            36: 2.36 ABI_DT_RELR
            37: 2.37
            38: 2.38
            39: 2.39
            40: 2.40
            41: 2.41
        """,
        "aarch64": """
            17: 2.0 2.17 2.18
            24: 2.22 2.23 2.24
            26: 2.25 2.26
            27: 2.27
            28: 2.28
            31: 2.29 2.30 2.31
            34: 2.32 2.33 2.34
            35: 2.35
            36: 2.36 ABI_DT_RELR
            38: 2.38
            39: 2.39
            40: 2.40
            41: 2.41
        """,
        "ppc64le": """
            17: 2.0 2.17
            24: 2.18 2.22 2.23 2.24
            26: 2.25 2.26
            27: 2.27
            28: 2.28
            31: 2.29 2.30 2.31
            34: 2.32 2.33 2.34
            35: 2.35
            36: 2.36 ABI_DT_RELR
            38: 2.38
            39: 2.39
            40: 2.40
            41: 2.41
        """,
        "s390x": """
            17: 2.2 2.2.1 2.2.2 2.2.3 2.2.4 2.2.6 2.3 2.3.2 2.3.3 2.3.4 2.4 2.5 2.6 2.7 2.8 2.9 2.10 2.11 2.12 2.13 2.14 2.15 2.16 2.17
            24: 2.18 2.19 2.22 2.23 2.24
            26: 2.25 2.26
            27: 2.27
            28: 2.28
            31: 2.29 2.30 2.31
            34: 2.32 2.33 2.34
            35: 2.35
            36: 2.36 ABI_DT_RELR
            38: 2.38
            39: 2.39
            40: 2.40
            41: 2.41
        """,
        "armv7l": """
            17: 2.0 2.4 2.5 2.6 2.7 2.8 2.9 2.10 2.11 2.12 2.13 2.14 2.15 2.16 2.17
            24: 2.18 2.22 2.23 2.24
            26: 2.25 2.26
            27: 2.27
            28: 2.28
            31: 2.29 2.30 2.31
            34: 2.32 2.33 2.34
            35: 2.35
            36: 2.36 ABI_DT_RELR
            37: 2.37
            38: 2.38
            39: 2.39
            40: 2.40
            41: 2.41
        """,
        "ppc64": """
            17: 2.0 2.1 2.1.1 2.1.2 2.1.3 2.2 2.2.1 2.2.2 2.2.3 2.2.4 2.2.5 2.2.6 2.3 2.3.2 2.3.3 2.3.4 2.4 2.5 2.6 2.7 2.8 2.9 2.10 2.11 2.12 2.13 2.14 2.15 2.16 2.17
        """,
        "riscv64": """
            31: 2.0 2.27 2.28 2.29 2.30 2.31
            34: 2.32 2.33 2.34
            35: 2.35
            36: 2.36
            37: 2.37
            38: 2.38 ABI_DT_RELR
            39: 2.39
            40: 2.40
            41: 2.41
        """,
        "loongarch64": """
            36: 2.0 2.36 ABI_DT_RELR
            38: 2.38
            39: 2.39
            40: 2.40
            41: 2.41
        """,
    },
    "GLIBCXX": {
        "x86_64": """
            5: 3.4 3.4.1 3.4.2 3.4.3 3.4.4 3.4.5 3.4.6 3.4.7 3.4.8
            12: 3.4.9 3.4.10 3.4.11 3.4.12 3.4.13
            17: 3.4.14 3.4.15 3.4.16 3.4.17 3.4.18 3.4.19
            24: 3.4.20 3.4.21 3.4.22
            27: 3.4.23 3.4.24
            31: 3.4.25 3.4.26 3.4.27 3.4.28
            34: 3.4.29
            35: 3.4.30
            39: 3.4.31 3.4.32 3.4.33
        """,
        "i686": """
            5: 3.4 3.4.1 3.4.2 3.4.3 3.4.4 3.4.5 3.4.6 3.4.7 3.4.8
            12: 3.4.9 3.4.10 3.4.11 3.4.12 3.4.13
            17: 3.4.14 3.4.15 3.4.16 3.4.17 3.4.18 3.4.19
            24: 3.4.20 3.4.21 3.4.22
            26: 3.4.23 3.4.24
            31: 3.4.25 3.4.26 3.4.27 3.4.28
            34: 3.4.29
            35: 3.4.30
            39: 3.4.31 3.4.32 3.4.33
        """,
        "aarch64 armv7l": """
            17: 3.4 3.4.1 3.4.2 3.4.3 3.4.4 3.4.5 3.4.6 3.4.7 3.4.8 3.4.9 3.4.10 3.4.11 3.4.12 3.4.13 3.4.14 3.4.15 3.4.16 3.4.17 3.4.18 3.4.19
            24: 3.4.20 3.4.21 3.4.22
            26: 3.4.23 3.4.24
            31: 3.4.25 3.4.26 3.4.27 3.4.28
            34: 3.4.29
            35: 3.4.30
            39: 3.4.31 3.4.32 3.4.33
        """,
        "ppc64le": """
            17: 3.4 3.4.1 3.4.2 3.4.3 3.4.4 3.4.5 3.4.6 3.4.7 3.4.8 3.4.9 3.4.10 3.4.11 3.4.12 3.4.13 3.4.14 3.4.15 3.4.16 3.4.17 3.4.18 3.4.19 LDBL_3.4 LDBL_3.4.7 LDBL_3.4.10
            24: 3.4.20 3.4.21 3.4.22 LDBL_3.4.21
            26: 3.4.23 3.4.24
            31: 3.4.25 3.4.26 3.4.27 3.4.28
            34: 3.4.29 IEEE128_3.4.29 LDBL_3.4.29
            35: 3.4.30 IEEE128_3.4.30
            39: 3.4.31 3.4.32 3.4.33 IEEE128_3.4.31 LDBL_3.4.31
        """,
        "s390x": """
            17: 3.4 3.4.1 3.4.2 3.4.3 3.4.4 3.4.5 3.4.6 3.4.7 3.4.8 3.4.9 3.4.10 3.4.11 3.4.12 3.4.13 3.4.14 3.4.15 3.4.16 3.4.17 3.4.18 3.4.19 LDBL_3.4 LDBL_3.4.7 LDBL_3.4.10
            24: 3.4.20 3.4.21 3.4.22 LDBL_3.4.21
            26: 3.4.23 3.4.24
            31: 3.4.25 3.4.26 3.4.27 3.4.28
            34: 3.4.29 LDBL_3.4.29
            35: 3.4.30
            39: 3.4.31 3.4.32 3.4.33 LDBL_3.4.31
        """,
        "ppc64": """
            17: 3.4 3.4.1 3.4.2 3.4.3 3.4.4 3.4.5 3.4.6 3.4.7 3.4.8 3.4.9 3.4.10 3.4.11 3.4.12 3.4.13 3.4.14 3.4.15 3.4.16 3.4.17 3.4.18 3.4.19
        """,
        "riscv64": """
            31: 3.4 3.4.1 3.4.2 3.4.3 3.4.4 3.4.5 3.4.6 3.4.7 3.4.8 3.4.9 3.4.10 3.4.11 3.4.12 3.4.13 3.4.14 3.4.15 3.4.16 3.4.17 3.4.18 3.4.19 3.4.20 3.4.21 3.4.22 3.4.23 3.4.24 3.4.25 3.4.26 3.4.27 3.4.28
            34: 3.4.29
            35: 3.4.30
            39: 3.4.31 3.4.32 3.4.33
        """,
        "loongarch64": """
            36: 3.4 3.4.1 3.4.2 3.4.3 3.4.4 3.4.5 3.4.6 3.4.7 3.4.8 3.4.9 3.4.10 3.4.11 3.4.12 3.4.13 3.4.14 3.4.15 3.4.16 3.4.17 3.4.18 3.4.19 3.4.20 3.4.21 3.4.22 3.4.23 3.4.24 3.4.25 3.4.26 3.4.27 3.4.28 3.4.29 3.4.30
            39: 3.4.31 3.4.32
            40: 3.4.33
        """,
    },
    "CXXABI": {
        "x86_64": """
            5: 1.3 1.3.1
            12: 1.3.2 1.3.3
            17: 1.3.4 1.3.5 1.3.6 1.3.7 TM_1
            24: 1.3.8 1.3.9 1.3.10 FLOAT128
            27: 1.3.11
            31: 1.3.12
            34: 1.3.13
            39: 1.3.14 1.3.15
        """,
        "i686": """
            5: 1.3 1.3.1
            12: 1.3.2 1.3.3
            17: 1.3.4 1.3.5 1.3.6 1.3.7 TM_1
            24: 1.3.8 1.3.9 1.3.10 FLOAT128
            26: 1.3.11
            31: 1.3.12
            34: 1.3.13
            39: 1.3.14 1.3.15
        """,
        "aarch64": """
            17: 1.3 1.3.1 1.3.2 1.3.3 1.3.4 1.3.5 1.3.6 1.3.7 TM_1
            24: 1.3.8 1.3.9 1.3.10
            26: 1.3.11
            31: 1.3.12
            34: 1.3.13
            39: 1.3.14 1.3.15
        """,
        "ppc64le": """
            17: 1.3 1.3.1 1.3.2 1.3.3 1.3.4 1.3.5 1.3.6 1.3.7 LDBL_1.3 TM_1
            24: 1.3.8 1.3.9 1.3.10
            26: 1.3.11
            31: 1.3.12
            34: 1.3.13 IEEE128_1.3.13
            39: 1.3.14 1.3.15
        """,
        "s390x": """
            17: 1.3 1.3.1 1.3.2 1.3.3 1.3.4 1.3.5 1.3.6 1.3.7 LDBL_1.3 TM_1
            24: 1.3.8 1.3.9 1.3.10
            26: 1.3.11
            31: 1.3.12
            34: 1.3.13
            39: 1.3.14 1.3.15
        """,
        "armv7l": """
            17: 1.3 1.3.1 1.3.2 1.3.3 1.3.4 1.3.5 1.3.6 1.3.7 ARM_1.3.3 TM_1
            24: 1.3.8 1.3.9 1.3.10
            26: 1.3.11
            31: 1.3.12
            34: 1.3.13
            39: 1.3.14 1.3.15
        """,
        "ppc64": """
            17: 1.3 1.3.1 1.3.2 1.3.3 1.3.4 1.3.5 1.3.6 1.3.7 TM_1
        """,
        "riscv64": """
            31: 1.3 1.3.1 1.3.2 1.3.3 1.3.4 1.3.5 1.3.6 1.3.7 1.3.8 1.3.9 1.3.10 1.3.11 1.3.12 TM_1
            34: 1.3.13
            39: 1.3.14 1.3.15
        """,
        "loongarch64": """
            36: 1.3 1.3.1 1.3.2 1.3.3 1.3.4 1.3.5 1.3.6 1.3.7 1.3.8 1.3.9 1.3.10 1.3.11 1.3.12 1.3.13 TM_1
            39: 1.3.14 1.3.15
        """,
    },
    "GCC": {
        "x86_64": """
            5: 3.0 3.3 3.3.1 3.4 3.4.2 3.4.4 4.0.0 4.2.0
            12: 4.3.0
            17: 4.7.0 4.8.0
            27: 7.0.0
            35: 12.0.0
            39: 13.0.0 14.0.0
        """,
        "i686": """
            5: 3.0 3.3 3.3.1 3.4 3.4.2 4.0.0 4.2.0
            12: 4.3.0 4.4.0 4.5.0
            17: 4.7.0 4.8.0
            26: 7.0.0
            35: 12.0.0
            39: 13.0.0 14.0.0
        """,
        "aarch64": """
            17: 3.0 3.3 3.3.1 3.4 3.4.2 3.4.4 4.0.0 4.2.0 4.3.0 4.5.0 4.7.0
            26: 7.0.0
            34: 11.0
            39: 13.0.0 14.0 14.0.0
        """,
        "ppc64le": """
            17: 3.0 3.3 3.3.1 3.4 3.4.2 3.4.4 4.0.0 4.2.0 4.3.0 4.7.0
            26: 7.0.0
            39: 14.0.0
        """,
        "s390x": """
            17: 3.0 3.3 3.3.1 3.4 3.4.2 3.4.4 4.0.0 4.1.0 4.2.0 4.3.0 4.7.0
            26: 7.0.0
            39: 14.0.0
        """,
        "armv7l": """
            17: 3.0 3.3 3.3.1 3.3.4 3.4 3.4.2 3.5 4.0.0 4.2.0 4.3.0 4.7.0
            26: 7.0.0
            39: 14.0.0
        """,
        "ppc64": """
            17: 3.0 3.3 3.3.1 3.4 3.4.2 3.4.4 4.0.0 4.2.0 4.3.0 4.4.0 4.5.0 4.7.0 4.8.0
        """,
        "riscv64": """
            31: 3.0 3.3 3.3.1 3.4 3.4.2 3.4.4 4.0.0 4.2.0 4.3.0 4.4.0 4.5.0 4.7.0 7.0.0
            39: 14.0.0
        """,
        "loongarch64": """
            36: 3.0 3.3 3.3.1 3.4 3.4.2 3.4.4 4.0.0 4.2.0 4.3.0 4.4.0 4.5.0 4.7.0 7.0.0
            39: 14.0.0
        """,
    },
    "LIBATOMIC": {
        "x86_64 s390x": """
            24: 1.0 1.1 1.2
        """,
        "i686 aarch64 ppc64le armv7l": """
            17: 1.0
            24: 1.1 1.2
        """,
        "ppc64": """
            17: 1.0
        """,
        "riscv64": """
            31: 1.0 1.1 1.2
        """,
        "loongarch64": """
            36: 1.0 1.1 1.2
        """,
    },
    "ZLIB": {
        "x86_64": """
            12: 1.2.0 1.2.0.2 1.2.0.8 1.2.2 1.2.2.3 1.2.2.4
            17: 1.2.3.3 1.2.3.4 1.2.3.5 1.2.5.1 1.2.5.2
            27: 1.2.7.1 1.2.9
            37: 1.2.12
        """,
        "i686": """
            12: 1.2.0 1.2.0.2 1.2.0.8 1.2.2 1.2.2.3 1.2.2.4
            17: 1.2.3.3 1.2.3.4 1.2.3.5 1.2.5.1 1.2.5.2
            26: 1.2.7.1 1.2.9
            36: 1.2.12
        """,
        "aarch64": """
            17: 1.2.0 1.2.0.2 1.2.0.8 1.2.2 1.2.2.3 1.2.2.4 1.2.3.3 1.2.3.4 1.2.3.5 1.2.5.1 1.2.5.2
            27: 1.2.7.1 1.2.9
            37: 1.2.12
        """,
        "ppc64le s390x armv7l": """
            17: 1.2.0 1.2.0.2 1.2.0.8 1.2.2 1.2.2.3 1.2.2.4 1.2.3.3 1.2.3.4 1.2.3.5 1.2.5.1 1.2.5.2
            26: 1.2.7.1 1.2.9
            37: 1.2.12
        """,
        "ppc64": """
            17: 1.2.0 1.2.0.2 1.2.0.8 1.2.2 1.2.2.3 1.2.2.4 1.2.3.3 1.2.3.4 1.2.3.5 1.2.5.1 1.2.5.2
        """,
        "riscv64": """
            31: 1.2.0 1.2.0.2 1.2.0.8 1.2.2 1.2.2.3 1.2.2.4 1.2.3.3 1.2.3.4 1.2.3.5 1.2.5.1 1.2.5.2 1.2.7.1 1.2.9
            37: 1.2.12
        """,
        "loongarch64": """
            36: 1.2.0 1.2.0.2 1.2.0.8 1.2.2 1.2.2.3 1.2.2.4 1.2.3.3 1.2.3.4 1.2.3.5 1.2.5.1 1.2.5.2 1.2.7.1 1.2.9
            37: 1.2.12
        """,
    },
}

#: Symbols a program must not import from a provided library, because some systems' copies do not
#: export them (zlib's internals, exported by a few distributions' builds only; glibc functions that
#: old policies' systems lack although their version nodes exist). Per library: names forbidden by
#: every policy, and per glibc minor, names allowed from that policy on.
FORBIDDEN_IMPORTS = {
    "libz.so.1": (
        "_dist_code _length_code _tr_align _tr_flush_block _tr_init _tr_stored_block _tr_tally "
        "adler32_default bi_windup crc32_acle crc32_combine_gen crc32_combine_gen64 crc32_combine_op "
        "crc32_le_vgfm_16 crc32_neon crc32_vpmsum crc32_z_default crc_fold_512to32 crc_fold_copy "
        "crc_fold_init deflate_copyright deflate_medium fill_window flush_pending gzflags "
        "inflate_copyright inflate_fast inflate_table longest_match slide_hash_sse sse2_slide_hash "
        "static_ltree uncompress2 x86_check_features x86_cpu_has_pclmul x86_cpu_has_sse2 "
        "x86_cpu_has_sse42 z_errmsg z_vstring zcalloc zcfree"
    ),
    "libc.so.6": (
        "__cxa_thread_atexit_impl __issignaling __issignalingf __issignalingl "
        "pthread_getattr_default_np pthread_setattr_default_np"
    ),
    "libm.so.6": "__issignaling __issignalingf __issignalingl",
    "libpthread.so.0": "pthread_getattr_default_np pthread_setattr_default_np",
}
#: glibc minor -> (library, names no longer forbidden from that policy on).
FORBIDDEN_IMPORTS_LIFTED = {
    24: (
        ("libc.so.6", FORBIDDEN_IMPORTS["libc.so.6"]),
        ("libm.so.6", FORBIDDEN_IMPORTS["libm.so.6"]),
        ("libpthread.so.0", FORBIDDEN_IMPORTS["libpthread.so.0"]),
    ),
    34: (("libz.so.1", "uncompress2"),),
    36: (
        (
            "libz.so.1",
            "bi_windup crc_fold_512to32 crc_fold_copy crc_fold_init deflate_medium fill_window "
            "flush_pending longest_match slide_hash_sse static_ltree x86_check_features "
            "x86_cpu_has_pclmul x86_cpu_has_sse2 x86_cpu_has_sse42",
        ),
    ),
    37: (("libz.so.1", "crc32_combine_gen crc32_combine_gen64 crc32_combine_op"),),
}
#: musllinux forbids only zlib's internals, fewer of them (musl systems' zlib builds differ).
_MUSL_ZLIB_ALLOWED = frozenset(
    [
        "adler32_default",
        "crc32_acle",
        "crc32_combine_gen",
        "crc32_combine_gen64",
        "crc32_combine_op",
        "crc32_le_vgfm_16",
        "crc32_neon",
        "crc32_z_default",
        "sse2_slide_hash",
        "z_vstring",
    ]
)
MUSL_FORBIDDEN_IMPORTS = {
    "libz.so.1": tuple(n for n in FORBIDDEN_IMPORTS["libz.so.1"].split() if n not in _MUSL_ZLIB_ALLOWED)
}
#: Symbols of Python 2's fpectl that no Python 3 interpreter exports: a binary importing them
#: load only under the rare interpreters built with it, so no manylinux/musllinux tag fits.
PYFPE_SYMBOLS = ("PyFPE_jbuf", "PyFPE_dummy", "PyFPE_counter")
