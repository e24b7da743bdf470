#!/usr/bin/env python3
"""Runs a program under the kernel-enforced restrictions a systemd unit file asks for, without systemd (the test
machine has no systemd as PID 1): so that the claims of deploy/swregistry.service are measured, not hoped.

Usage: unit_sandbox.py UNIT_FILE PROGRAM [ARGS...]

From the unit's [Service] section:
- SystemCallFilter= (an allow-list, then ~ removals, as systemd reads them; groups expanded by
  `systemd-analyze syscall-filter`): any other system call kills the process (SIGSYS), stricter than the unit's
  SystemCallErrorNumber=EPERM, so that a call outside the list cannot go unnoticed.
- RestrictAddressFamilies=: socket() of another family fails with EAFNOSUPPORT, as systemd makes it.
- MemoryDenyWriteExecute=true: prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN), the kernel's form of it (6.3+):
  no mapping may be writable and executable, nor become executable. systemd 252 enforces the same with seccomp.
- NoNewPrivileges=true (needed anyway to load a filter without CAP_SYS_ADMIN).
Then execs PROGRAM (same pid), through libseccomp with ctypes (no Python binding needed).
"""
import ctypes
import ctypes.util
import errno
import os
import re
import socket
import subprocess
import sys

PR_SET_NO_NEW_PRIVS = 38
PR_SET_MDWE = 65
PR_MDWE_REFUSE_EXEC_GAIN = 1
SCMP_ACT_KILL_PROCESS = 0x80000000
SCMP_ACT_ALLOW = 0x7FFF0000
SCMP_CMP_EQ = 4


def SCMP_ACT_ERRNO(code):
    return 0x00050000 | (code & 0xFFFF)


class ArgCmp(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int),
                ("datum_a", ctypes.c_uint64), ("datum_b", ctypes.c_uint64)]


def service_settings(path):
    """The [Service] assignments of a unit file, in order, as (key, value) pairs."""
    settings, section = [], None
    for raw in open(path):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            section = line
            continue
        if section == "[Service]" and "=" in line:
            key, value = line.split("=", 1)
            settings.append((key.strip(), value.strip()))
    return settings


def syscall_groups():
    """Each @group of systemd-analyze, with its members (names and @groups)."""
    out = subprocess.run(["systemd-analyze", "syscall-filter", "--no-pager"],
                         capture_output=True, text=True, check=True).stdout
    groups, current = {}, None
    for line in out.splitlines():
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        if not line[0].isspace() and text.startswith("@"):
            current = groups.setdefault(text, [])
        elif current is not None:
            current.append(text)
    return groups


def expand(names, groups):
    result = set()
    for name in names:
        if name.startswith("@"):
            if name not in groups:
                sys.exit("unit_sandbox: unknown system call group %s" % name)
            result |= expand(groups[name], groups)
        else:
            result.add(name)
    return result


def allowed_syscalls(settings):
    groups = syscall_groups()
    allowed = None
    for key, value in settings:
        if key != "SystemCallFilter":
            continue
        if not value:
            allowed = None
            continue
        deny = value.startswith("~")
        names = expand(value.lstrip("~").split(), groups)
        if allowed is None:
            if deny:
                sys.exit("unit_sandbox: only an allow-list SystemCallFilter= (then ~ removals) is supported")
            allowed = names
        elif deny:
            allowed -= names
        else:
            allowed |= names
    return allowed


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    unit, program = sys.argv[1], sys.argv[2]
    settings = service_settings(unit)
    values = dict(settings)
    libc = ctypes.CDLL(None, use_errno=True)

    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        sys.exit("unit_sandbox: PR_SET_NO_NEW_PRIVS: %s" % os.strerror(ctypes.get_errno()))
    if values.get("MemoryDenyWriteExecute") == "true":
        if libc.prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0:
            sys.exit("unit_sandbox: PR_SET_MDWE (Linux 6.3+): %s" % os.strerror(ctypes.get_errno()))

    allowed = allowed_syscalls(settings)
    families = values.get("RestrictAddressFamilies", "").split()
    if allowed is None and not families:
        os.execv(program, sys.argv[2:])

    name = ctypes.util.find_library("seccomp") or "libseccomp.so.2"
    seccomp = ctypes.CDLL(name, use_errno=True)
    seccomp.seccomp_init.restype = ctypes.c_void_p
    seccomp.seccomp_init.argtypes = [ctypes.c_uint32]
    seccomp.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    seccomp.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint,
                                               ctypes.POINTER(ArgCmp)]
    seccomp.seccomp_load.argtypes = [ctypes.c_void_p]

    ctx = seccomp.seccomp_init(SCMP_ACT_KILL_PROCESS if allowed is not None else SCMP_ACT_ALLOW)
    if not ctx:
        sys.exit("unit_sandbox: seccomp_init failed")

    def rule(action, call, *compare):
        nr = seccomp.seccomp_syscall_resolve_name(call.encode())
        if nr < 0:
            return  # not a system call of this architecture (socketcall, _sysctl…)
        cmps = (ArgCmp * max(len(compare), 1))(*compare)
        rc = seccomp.seccomp_rule_add_array(ctx, action, nr, len(compare), cmps)
        if rc < 0:
            sys.exit("unit_sandbox: rule for %s: %s" % (call, os.strerror(-rc)))

    for call in sorted(allowed or ()):
        if families and call == "socket":
            continue
        rule(SCMP_ACT_ALLOW, call)
    if families:
        numbers = []
        for family in families:
            if not re.fullmatch(r"AF_[A-Z0-9]+", family) or not hasattr(socket, family):
                sys.exit("unit_sandbox: unknown address family %s" % family)
            numbers.append(int(getattr(socket, family)))
        for number in numbers:
            rule(SCMP_ACT_ALLOW, "socket", ArgCmp(0, SCMP_CMP_EQ, number, 0))
        # Every other family: EAFNOSUPPORT, as systemd answers (a rule per family the kernel knows, AF_MAX 46).
        for number in range(0, 46):
            if number not in numbers:
                rule(SCMP_ACT_ERRNO(errno.EAFNOSUPPORT), "socket", ArgCmp(0, SCMP_CMP_EQ, number, 0))
    rc = seccomp.seccomp_load(ctx)
    if rc < 0:
        sys.exit("unit_sandbox: seccomp_load: %s" % os.strerror(-rc))
    os.execv(program, sys.argv[2:])


if __name__ == "__main__":
    main()
