import FoundationEssentials
import Glibc
import SlotCore
import SlotWire
import Synchronization

/// The library's updates run in the update module, `slotctl-update`, as a
/// child process: the module links libcurl (and through it TLS, HTTP/2 and
/// more), the library does not, so a process that loads libslotctl.so (and
/// `slotctl mark-good` on every boot) maps none of it, and a product with
/// its own transport leaves the module out.
///
/// `slotctl_check_update` runs `slotctl-update --config PATH check` and reads
/// its exit code; `slotctl_start_update` starts `slotctl-update --config PATH
/// update --json` and a thread that turns its JSON lines into the progress
/// `slotctl_update_progress` returns; `slotctl_cancel_update` sends it
/// SIGTERM, which the module answers by cancelling the update (state
/// cancelled, the target slot left unbootable).
///
/// Where the module is looked for, in order: `$SLOTCTL_UPDATE_MODULE`;
/// `<dir of libslotctl.so>/../libexec/slotctl/slotctl-update` (`make
/// install`); `<dir of libslotctl.so>/slotctl-update` (a build directory).
enum UpdateModule {
    static func path() throws(CFailure) -> String {
        let candidates = candidatePaths()
        guard let found = candidates.first(where: { access($0, X_OK) == 0 }) else {
            throw CFailure(CStatus.moduleMissing, "the update module is not installed (looked for \(candidates.joined(separator: ", ")))")
        }
        return found
    }

    static func candidatePaths() -> [String] {
        if let explicit = getenv("SLOTCTL_UPDATE_MODULE") { return [String(cString: explicit)] }
        guard let library = libraryPath() else { return ["/usr/libexec/slotctl/slotctl-update"] }
        let dir = library.lastIndex(of: "/").map { String(library[..<$0]) } ?? "."
        return [dir + "/../libexec/slotctl/slotctl-update", dir + "/slotctl-update"]
    }

    /// The file this library was loaded from: the mapping in /proc/self/maps
    /// that holds this library's ELF header (`#dsohandle`).
    static func libraryPath() -> String? {
        let address = UInt(bitPattern: #dsohandle)
        guard let file = fopen("/proc/self/maps", "r") else { return nil }
        defer { fclose(file) }
        var line = [CChar](repeating: 0, count: 4608)
        while fgets(&line, Int32(line.count), file) != nil {
            let text = String(cString: line)
            let fields = text.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 6, let dash = fields[0].firstIndex(of: "-"),
                let start = UInt(fields[0][..<dash], radix: 16), let end = UInt(fields[0][fields[0].index(after: dash)...], radix: 16),
                start <= address, address < end
            else { continue }
            let path = fields[5...].joined(separator: " ")
            return path.hasSuffix("\n") ? String(path.dropLast()) : path
        }
        return nil
    }

    /// A pipe whose two ends are closed on exec (the child gets its own copies by dup2).
    static func pipe() throws(CFailure) -> (read: Int32, write: Int32) {
        var fds: [Int32] = [-1, -1]
        guard Glibc.pipe(&fds) == 0 else { throw CFailure(CStatus.io, "pipe: \(String(cString: strerror(errno)))") }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        return (fds[0], fds[1])
    }
}

/// A running `slotctl-update`: its pid and the read ends of its stdout and stderr.
final class ModuleProcess: Sendable {
    let pid: pid_t
    let stdout: Int32
    let stderr: Int32

    private init(pid: pid_t, stdout: Int32, stderr: Int32) {
        self.pid = pid
        self.stdout = stdout
        self.stderr = stderr
    }

    /// Starts the module with `arguments`; stdin is /dev/null.
    static func start(_ arguments: [String]) throws(CFailure) -> ModuleProcess {
        let path = try UpdateModule.path()
        let out = try UpdateModule.pipe()
        let err: (read: Int32, write: Int32)
        do throws(CFailure) {
            err = try UpdateModule.pipe()
        } catch {
            close(out.read); close(out.write)
            throw error
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, out.write, 1)
        posix_spawn_file_actions_adddup2(&actions, err.write, 2)
        var argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) }
        argv.append(nil)
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, path, &actions, nil, argv, environ)
        close(out.write)
        close(err.write)
        guard rc == 0 else {
            close(out.read); close(err.read)
            throw CFailure(CStatus.moduleMissing, "cannot run the update module \(path): \(String(cString: strerror(rc)))")
        }
        return ModuleProcess(pid: pid, stdout: out.read, stderr: err.read)
    }

    /// Reads stdout line by line (calling `line` for each) and keeps the end
    /// of stderr, until both close; then waits for the process. Returns its
    /// exit code (128 + signal when a signal ended it) and its stderr.
    func finish(_ line: (String) -> Void) -> (status: Int32, stderr: String) {
        var pending: [UInt8] = [], errors: [UInt8] = []
        var fds = [pollfd(fd: stdout, events: Int16(POLLIN), revents: 0), pollfd(fd: stderr, events: Int16(POLLIN), revents: 0)]
        var buffer = [UInt8](repeating: 0, count: 16384)
        while fds.contains(where: { $0.fd >= 0 }) {
            if poll(&fds, nfds_t(fds.count), -1) < 0 {
                if errno == EINTR { continue }
                break
            }
            for index in fds.indices where fds[index].fd >= 0 && fds[index].revents != 0 {
                let count = read(fds[index].fd, &buffer, buffer.count)
                if count < 0 && errno == EINTR { continue }
                if count <= 0 {
                    close(fds[index].fd)
                    fds[index].fd = -1
                    continue
                }
                if index == 0 {
                    pending += buffer[..<count]
                    while let newline = pending.firstIndex(of: 10) {
                        line(String(decoding: pending[..<newline], as: UTF8.self))
                        pending.removeSubrange(...newline)
                    }
                } else {
                    errors += buffer[..<count]
                    if errors.count > 8192 { errors.removeFirst(errors.count - 8192) }
                }
            }
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let exited = status & 0x7f == 0
        let code = exited ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return (code, String(decoding: errors, as: UTF8.self))
    }

    func signal(_ number: Int32) {
        kill(pid, number)
    }

    /// The message of the last `slotctl: error: ...` line of the module's stderr.
    static func message(_ stderr: String, status: Int32) -> String {
        let lines = stderr.split(separator: "\n")
        if let last = lines.last(where: { $0.hasPrefix("slotctl: error: ") }) {
            return String(last.dropFirst("slotctl: error: ".count))
        }
        if let last = lines.last { return String(last) }
        return "the update module exited with status \(status)"
    }

    /// A module exit code as a C API status: the module's own codes are the
    /// CLI's (2 to 5, 8); anything else (a signal, a crash) is I/O.
    static func cStatus(_ status: Int32) -> Int32 {
        [CStatus.usage, CStatus.verification, CStatus.io, CStatus.refused, CStatus.moduleMissing].contains(status) ? status : CStatus.io
    }
}

/// One update run by the module, as `slotctl_update_progress` reports it.
final class ModuleUpdate: Sendable {
    struct Progress: Sendable {
        var state: Int32 = UpdateStateCode.checking
        var bytesDone: UInt64 = 0
        var bytesTotal: UInt64 = 0
        var error: Int32 = 0
        var message: String?
    }

    /// What the reader thread and the C calls share.
    private final class Shared: Sendable {
        let progress = Mutex(Progress())
        let cancelRequested = Atomic(false)
    }

    private let process: ModuleProcess
    private let shared = Shared()
    private let reader: WorkerThread
    private let joined = Mutex(false)

    /// Starts `slotctl-update --config CONFIG update --json` and its reader thread.
    init(config: String) throws(CFailure) {
        let process = try ModuleProcess.start(["--config", config, "update", "--json"])
        self.process = process
        let shared = self.shared
        reader = WorkerThread {
            let (status, stderr) = process.finish { line in
                guard let line = try? UpdateProgressLine(json: line) else { return }
                shared.progress.withLock { progress in
                    if let code = UpdateStateCode.of(line.state) { progress.state = code }
                    progress.bytesDone = line.bytesDone
                    progress.bytesTotal = line.bytesTotal
                    if let error = line.error {
                        progress.error = Int32(truncatingIfNeeded: error.exitCode)
                        progress.message = error.message
                    }
                }
            }
            shared.progress.withLock { progress in
                guard !UpdateStateCode.isFinal(progress.state) else { return }
                // The module ended without a final state line: killed before it
                // could report (a cancel right at the start), or crashed.
                if shared.cancelRequested.load(ordering: .relaxed) {
                    progress.state = UpdateStateCode.cancelled
                    progress.error = CStatus.refused
                    progress.message = "the update was cancelled"
                } else {
                    progress.state = UpdateStateCode.failed
                    progress.error = status == 0 ? CStatus.io : ModuleProcess.cStatus(status)
                    progress.message = ModuleProcess.message(stderr, status: status)
                }
            }
        }
    }

    var progress: Progress { shared.progress.withLock { $0 } }

    var isRunning: Bool { !UpdateStateCode.isFinal(progress.state) }

    func cancel() {
        shared.cancelRequested.store(true, ordering: .relaxed)
        process.signal(SIGTERM)
    }

    /// Waits for the module and the reader thread; later calls return at once.
    func join() {
        joined.withLock { done in
            if !done { reader.join() }
            done = true
        }
    }
}

/// The `slotctl_update_state` values (`SLOTCTL_UPDATE_*` in slotctl.h) and the
/// module's names for them (`update --json`).
enum UpdateStateCode {
    static let idle: Int32 = 0, checking: Int32 = 1, downloading: Int32 = 2, installing: Int32 = 3
    static let readyToReboot: Int32 = 4, upToDate: Int32 = 5, failed: Int32 = 6, cancelled: Int32 = 7

    static func of(_ name: String) -> Int32? {
        switch name {
        case "idle": idle
        case "checking": checking
        case "downloading": downloading
        case "installing": installing
        case "ready-to-reboot": readyToReboot
        case "up-to-date": upToDate
        case "failed": failed
        case "cancelled": cancelled
        default: nil
        }
    }

    static func isFinal(_ code: Int32) -> Bool { code == idle || code >= readyToReboot }
}
