import Glibc

/// A command line run by `/bin/sh -c`, waited for: what an operator
/// configures (`[update] reboot-command`), not what slotctl builds.
public enum ShellCommand {
    /// The command's exit status (128 + N when killed by signal N), or nil
    /// when it could not be started.
    public static func run(_ command: String) -> Int32? {
        var argv: [UnsafeMutablePointer<CChar>?] = ["/bin/sh", "-c", command].map { (word: String) in strdup(word) }
        argv.append(nil)
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        guard posix_spawn(&pid, "/bin/sh", nil, nil, argv, environ) == 0 else { return nil }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else { return nil }
        }
        // WIFEXITED / WEXITSTATUS / WTERMSIG are macros Swift cannot see.
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }
}
