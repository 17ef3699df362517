# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The KVM guests running on a host: every process that holds a KVM VM file
descriptor (anon_inode:kvm-vm, what KVM_CREATE_VM returns), whatever started
it (libvirt, a bare QEMU, another VMM). Read from /proc without following
links (readlink of /proc/PID/fd/N only) and with bounded reads, so a
root-run module can use it on any host.
"""

from __future__ import annotations

import os

KVM_VM_FD = "anon_inode:kvm-vm"
KVM_VCPU_FD = "anon_inode:kvm-vcpu:"
CMDLINE_LIMIT = 64 * 1024


def _read_small(path: str, limit: int) -> bytes:
    """At most limit bytes of a /proc file (never a link: O_NOFOLLOW)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return b""
    try:
        return os.read(fd, limit)
    except OSError:
        return b""
    finally:
        os.close(fd)


def guest_name(argv: list[str], comm: str, pid: int) -> str:
    """A guest's name as an operator knows it: QEMU's -name (libvirt passes
    guest=NAME,debug-threads=on), else the program's name and pid."""
    for i, a in enumerate(argv):
        value = None
        if a in ("-name", "--name") and i + 1 < len(argv):
            value = argv[i + 1]
        elif a.startswith(("-name=", "--name=")):
            value = a.split("=", 1)[1]
        if value:
            for part in value.split(","):
                if part.startswith("guest="):
                    return part[len("guest=") :] or f"{comm}[{pid}]"
            first = value.split(",", 1)[0]
            if "=" not in first:
                return first
    return f"{comm}[{pid}]"


def list_guests(proc: str = "/proc") -> list[dict]:
    """One entry per process holding a KVM VM: pid, name, comm, vcpus (the
    number of vCPU fds), sorted by pid. Raises OSError when proc itself
    cannot be read (then nobody can say whether guests run)."""
    out = []
    for entry in os.listdir(proc):
        if not entry.isdigit():
            continue
        fd_dir = os.path.join(proc, entry, "fd")
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue  # gone, or a kernel thread
        vms = vcpus = 0
        for fd in fds:
            try:
                target = os.readlink(os.path.join(fd_dir, fd))
            except OSError:
                continue
            if target == KVM_VM_FD:
                vms += 1
            elif target.startswith(KVM_VCPU_FD):
                vcpus += 1
        if not vms:
            continue
        pid = int(entry)
        comm = _read_small(os.path.join(proc, entry, "comm"), 64).decode("utf-8", "replace").strip()
        raw = _read_small(os.path.join(proc, entry, "cmdline"), CMDLINE_LIMIT)
        argv = [a.decode("utf-8", "replace") for a in raw.split(b"\0") if a]
        out.append(
            {"pid": pid, "name": guest_name(argv, comm or "?", pid), "comm": comm, "vcpus": vcpus}
        )
    return sorted(out, key=lambda g: g["pid"])
