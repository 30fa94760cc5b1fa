"""Build the demo: libgreet.so.1 in build/lib (outside the wheel) and an unrepaired wheel in dist/
whose extension needs it, linked the way a build machine would (RUNPATH to the build directory).

    python examples/demo/build.py && wheelrepair show examples/demo/dist/*.whl
"""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
LIB = HERE / "build" / "lib"
DIST = HERE / "dist"


def record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def main() -> Path:
    LIB.mkdir(parents=True, exist_ok=True)
    DIST.mkdir(exist_ok=True)
    subprocess.run(["gcc", "-shared", "-fPIC", "-O2", "-Wl,-soname,libgreet.so.1", "-o", str(LIB / "libgreet.so.1"),
                    str(HERE / "greet.c")], check=True)
    (LIB / "libgreet.so").unlink(missing_ok=True)
    (LIB / "libgreet.so").symlink_to("libgreet.so.1")
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    ext = HERE / "build" / f"_greet{suffix}"
    subprocess.run(["gcc", "-shared", "-fPIC", "-O2", f"-I{sysconfig.get_paths()['include']}", "-o", str(ext),
                    str(HERE / "_greet.c"), f"-L{LIB}", "-lgreet", f"-Wl,-rpath,{LIB}"], check=True)
    tag = f"cp{sys.version_info[0]}{sys.version_info[1]}"
    plat = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    files = {
        "greet/__init__.py": b"from ._greet import message\n",
        f"greet/_greet{suffix}": ext.read_bytes(),
        "greet-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: greet\nVersion: 1.0\n",
        "greet-1.0.dist-info/WHEEL": f"Wheel-Version: 1.0\nGenerator: demo\nRoot-Is-Purelib: false\n"
                                     f"Tag: {tag}-{tag}-{plat}\n".encode(),
    }
    record = "".join(f"{name},{record_hash(data)},{len(data)}\n" for name, data in files.items())
    files["greet-1.0.dist-info/RECORD"] = (record + "greet-1.0.dist-info/RECORD,,\n").encode()
    wheel = DIST / f"greet-1.0-{tag}-{tag}-{plat}.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    print(wheel)
    return wheel


if __name__ == "__main__":
    main()
