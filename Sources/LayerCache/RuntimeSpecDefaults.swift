/// The implementation-defined parts of a generated `config.json`: what `runc spec` (runc 1.1.5) writes, except
/// where a container from an image needs what Docker gives it (each such place says so).
public enum RuntimeSpecDefaults {
    /// The runtime-spec version written in `ociVersion`. runc 1.1.5 (Debian 12) accepts any 1.x version (it only
    /// checks the field is set), and every field written here exists since 1.0.
    public static let ociVersion = "1.3.0"

    /// `PATH` when the image sets none (Docker's and `runc spec`'s).
    public static let path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

    /// Docker's default capability set (moby `oci/caps/defaults.go`): `runc spec`'s three (AUDIT_WRITE, KILL,
    /// NET_BIND_SERVICE) are too few for images such as nginx, which `chown`s and `setuid`s at start.
    public static let capabilities = [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
        "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL",
        "CAP_AUDIT_WRITE",
    ]

    /// Bounding, effective and permitted get the set; inheritable and ambient stay empty, as Docker does (an ambient
    /// set, as `runc spec` writes, would hand the capabilities to non-root processes across `execve`).
    public static var processCapabilities: RuntimeSpec.Capabilities {
        RuntimeSpec.Capabilities(bounding: capabilities, effective: capabilities, inheritable: nil,
                                 permitted: capabilities, ambient: nil)
    }

    /// `runc spec`'s only limit.
    public static let rlimits = [RuntimeSpec.Rlimit(type: "RLIMIT_NOFILE", hard: 1024, soft: 1024)]

    /// `noNewPrivileges`: false, as Docker (it sets it only for `--security-opt no-new-privileges`); `runc spec`
    /// writes true, which breaks set-uid programs (`su`, `ping` on old images) that images expect to work.
    public static let noNewPrivileges = false

    /// `runc spec`'s mounts, in its order.
    public static let mounts: [RuntimeSpec.Mount] = [
        .init(destination: "/proc", type: "proc", source: "proc", options: nil),
        .init(destination: "/dev", type: "tmpfs", source: "tmpfs",
              options: ["nosuid", "strictatime", "mode=755", "size=65536k"]),
        .init(destination: "/dev/pts", type: "devpts", source: "devpts",
              options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]),
        .init(destination: "/dev/shm", type: "tmpfs", source: "shm",
              options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]),
        .init(destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"]),
        .init(destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"]),
        .init(destination: "/sys/fs/cgroup", type: "cgroup", source: "cgroup",
              options: ["nosuid", "noexec", "nodev", "relatime", "ro"]),
    ]

    /// New namespaces: `runc spec`'s five, plus cgroup (as newer `runc spec` and Docker on cgroup v2 do), so the
    /// container sees its own cgroup as the root of `/sys/fs/cgroup`.
    public static let namespaces: [RuntimeSpec.Namespace] = ["pid", "network", "ipc", "uts", "mount", "cgroup"]
        .map { RuntimeSpec.Namespace(type: $0) }

    /// `runc spec`'s masked paths.
    public static let maskedPaths = [
        "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
        "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi",
    ]

    /// `runc spec`'s read-only paths.
    public static let readonlyPaths = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]

    /// `runc spec`'s device rule: deny everything (runc then allows its default device set itself).
    public static let resources = RuntimeSpec.Resources(devices: [.init(allow: false, access: "rwm")])
}
