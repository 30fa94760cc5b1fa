"""Driver libraries: the GPU and graphics stack that only the user's machine can supply.

These are never vendored, on any platform, whether or not the build machine has a copy: a library of
the driver stack must match the kernel driver and the GPU installed where the wheel runs (a vendored
libcuda cannot talk to another version of the NVIDIA kernel module; a vendored glvnd libEGL or a
Vulkan/OpenCL loader bypasses the vendor dispatch and finds no driver, or crashes). A dependency on
one is left external with the reason below, which ``show`` and ``repair`` print.

Each entry is a glob on the file name (case-insensitive on Windows, as its file names are) and the
one-line reason.
"""

from __future__ import annotations

import posixpath
from fnmatch import fnmatchcase
from functools import lru_cache

_NVIDIA = "part of the NVIDIA driver, versioned with its kernel module"
_GLVND = (
    "glvnd dispatch library: it hands each call to the OpenGL/EGL implementation of the installed "
    "GPU driver"
)

DRIVERS: dict[str, tuple[tuple[str, str], ...]] = {
    "linux": (
        ("libcuda.so*", "the CUDA driver API, installed with the NVIDIA driver it must match"),
        ("libnvidia-*.so*", _NVIDIA),
        ("libnvcuvid.so*", _NVIDIA + " (video decoding)"),
        ("libEGL.so*", _GLVND),
        ("libGLX.so*", _GLVND),
        ("libGLdispatch.so*", _GLVND),
        ("libOpenGL.so*", _GLVND),
        ("libGL.so*", _GLVND),
        ("libGLESv1_CM.so*", _GLVND),
        ("libGLESv2.so*", _GLVND),
        ("libEGL_*.so*", "a vendor EGL implementation that glvnd loads for the installed GPU"),
        ("libGLX_*.so*", "a vendor GLX implementation that glvnd loads for the installed GPU"),
        ("libvulkan.so*", "the Vulkan loader: it finds the installed GPU drivers' ICDs"),
        ("libOpenCL.so*", "the OpenCL ICD loader: it finds the installed drivers' ICDs"),
    ),
    "macos": (
        ("libcuda.dylib", "the CUDA driver API, installed with the NVIDIA driver it must match"),
        ("libvulkan*.dylib", "the Vulkan loader: it finds the installed drivers' ICDs (MoltenVK)"),
        ("libOpenCL*.dylib", "the OpenCL ICD loader: it finds the installed drivers' ICDs"),
    ),
    "windows": (
        ("nvcuda.dll", "the CUDA driver API, installed with the NVIDIA driver it must match"),
        ("nvml.dll", _NVIDIA + " (management library)"),
        ("nvapi.dll", _NVIDIA),
        ("nvapi64.dll", _NVIDIA),
        ("nvcuvid.dll", _NVIDIA + " (video decoding)"),
        ("nvencodeapi*.dll", _NVIDIA + " (video encoding)"),
        ("nvoglv*.dll", _NVIDIA + " (OpenGL implementation)"),
        ("opencl.dll", "the OpenCL ICD loader, installed with the GPU driver"),
        ("vulkan-1.dll", "the Vulkan loader, installed with the GPU driver"),
    ),
}


# Binaries of one wheel need the same few names over and over (torch: 956 needs, 20 names).
@lru_cache(maxsize=4096)
def driver_reason(platform: str, name: str) -> str | None:
    """Why ``name`` (as a binary needs it) belongs to the user's driver stack, or None."""
    leaf = posixpath.basename(name.replace("\\", "/"))
    if platform == "windows":
        leaf = leaf.lower()
    for pattern, reason in DRIVERS.get(platform, ()):
        if fnmatchcase(leaf, pattern):
            return f"driver library, left external: {reason}"
    return None
