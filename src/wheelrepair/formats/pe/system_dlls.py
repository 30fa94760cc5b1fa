"""The DLLs a Windows machine running Python already has: never vendored, never looked up.

Four groups: API sets (virtual names the loader maps to real DLLs), the DLLs every supported Windows
(10, 11, Server 2016+) ships in System32 (including the KnownDLLs), the Python interpreter's own DLLs,
and the two Visual C++ runtime DLLs python.org's installer ships beside python.exe. The rest of the
Visual C++ runtime (msvcp140*.dll, concrt140.dll, vcomp140.dll, vccorlib140.dll, the debug builds)
is not guaranteed to be present and is vendored. GPU driver entry points are listed too: they must
come from the installed driver and are never vendored.
"""

from __future__ import annotations

import re

# API set contracts: resolved by the loader through the API set schema, never files on disk.
_API_SET = re.compile(r"(api|ext)-ms-", re.IGNORECASE)

# The interpreter's DLLs: python3.dll (stable ABI), python3X.dll / python3Xt.dll (free-threaded),
# debug builds, Python 2, PyPy's libpypy3.X-c.dll and GraalPy's python-native.dll. Like
# delvewheel, these are provided whatever the wheel's tag: only that interpreter's process has the
# DLL, so an extension importing it is only ever loaded there.
_PYTHON = re.compile(r"(python\d+t?(_d)?|libpypy\d*(\.\d+)*-c|python-native)\.dll", re.IGNORECASE)

_VC_RUNTIME_FROM_PYTHON = frozenset({"vcruntime140.dll", "vcruntime140_1.dll"})

# Shipped by every supported Windows in System32 (KnownDLLs first, then the other system DLLs that
# extension modules and their dependencies import).
_WINDOWS_NAMES = """
    advapi32 clbcatq combase comdlg32 coml2 difxapi gdi32 gdiplus imagehlp imm32 kernel32
    kernelbase msctf msvcrt normaliz nsi ntdll ole32 oleaut32 psapi rpcrt4 sechost setupapi shcore
    shell32 shlwapi user32 wldap32 wow64 wow64win ws2_32

    aclui activeds advpack amsi apphelp authz avifil32 avrt bcrypt bcryptprimitives bluetoothapis
    cabinet cfgmgr32 clusapi comctl32 comppkgsup comsvcs credui crypt32 cryptbase cryptdll cryptnet
    cryptsp cryptui cryptxml d2d1 d3d10 d3d10_1 d3d10core d3d11 d3d12 d3d9 d3dcompiler_47 dbgeng
    dbghelp dcomp ddraw devobj dhcpcsvc dhcpcsvc6 dinput8 dnsapi dpapi dsound dsrole dwmapi dwrite
    dxcore dxgi dxva2 esent evr fltlib fwpuclnt gdi32full glu32 hid hlink httpapi icm32 icmp
    ieframe iertutil imgutil inetmib1 iphlpapi iprop kernel.appcore ksuser ktmw32 linkinfo loadperf
    logoncli mapi32 mf mfplat mfplay mfreadwrite mgmtapi mi mlang mmdevapi mpr mprapi msacm32
    mscms mscoree msctfmonitor msdmo msdrm msftedit mshtml msi msimg32 msimtf msls31 msports mstask
    msvcp_win msvfw32 mswsock mtxdm ncrypt ndfapi netapi32 netutils newdev ntdsapi ntmarta
    ntoskrnl.exe ntshrui odbc32 odbccp32 oleacc oledlg olepro32 opengl32 pdh powrprof profapi
    propsys qwave rasapi32 rasdlg resutils riched20 riched32 rpcns4 rstrtmgr rtutils samcli samlib
    sas scecli secur32 sensapi shdocvw shfolder slc slwga snmpapi spoolss srvcli sspicli sti
    sxs t2embed tapi32 tbs tdh traffic twain_32 ucrtbase uiautomationcore umpdc urlmon userenv
    usp10 uxtheme vdmdbg version virtdisk vssapi wbemcomn webio webservices websocket wer wevtapi
    win32u windows.storage windowscodecs winbio winhttp wininet winmm winscard winspool.drv
    winsta wintrust winusb wkscli wlanapi wmi wmvcore wow32 ws2help wsnmp32 wsock32 wtsapi32
    xinput1_4 xinput9_1_0 xmllite

    nvcuda nvml nvapi64 nvapi opencl vulkan-1 amdhip64
"""


_EXTENSIONS = (".dll", ".exe", ".drv", ".sys")


def _with_extension(name: str) -> str:
    # The loader appends ".dll" to a name without one ("kernel32" is "kernel32.dll").
    return name if name.endswith(_EXTENSIONS) else name + ".dll"


SYSTEM_DLLS = frozenset(_with_extension(n) for n in _WINDOWS_NAMES.split())


def is_api_set(name: str) -> bool:
    return _API_SET.match(name) is not None


def is_python_dll(name: str) -> bool:
    return _PYTHON.fullmatch(name) is not None


def is_system_dll(name: str) -> bool:
    """True when every Windows machine running Python provides ``name`` (case-insensitive)."""
    lowered = _with_extension(name.casefold())
    return (
        is_api_set(lowered)
        or is_python_dll(lowered)
        or lowered in _VC_RUNTIME_FROM_PYTHON
        or lowered in SYSTEM_DLLS
    )


# Visual C++ runtime DLLs repair vendors; an old copy of one picked up from PATH crashes code built
# by a newer toolset, so the policy compares its age with the binaries that import it.
_MSVC_VENDORED = re.compile(
    r"(msvcp140(_\d+|_atomic_wait|_codecvt_ids)?|concrt140|vcomp140|vccorlib140|vcamp140|vcruntime140(_1)?d|msvcp140d(_\w+)?|ucrtbased)"
    r"(-[0-9a-f]{8,32})?\.dll",
    re.IGNORECASE,
)


def is_vendored_msvc_runtime(name: str) -> bool:
    return _MSVC_VENDORED.fullmatch(name) is not None
