import ArgumentParser
import SlotCore

struct BootCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "boot",
        abstract: "Make the boot hook's decision: count the attempt, print SLOT=, ROOT=, FSTYPE=, SEQ= and record run-dir/booted.",
        discussion: "Always prints a decision (R at worst) and exits 0, like the hook, so a boot never stops here.")

    @OptionGroup var global: GlobalOptions

    @Flag(help: "Decide without writing anything.")
    var dryRun = false

    @Option(help: "Kernel command line to read slotctl.slot= from, with [boot] bootloader = grub or uboot (default: /proc/cmdline).")
    var cmdline: String = KernelCommandLine.defaultPath

    func run() throws {
        let manager = try global.manager()
        let commandLine = manager.config.bootloader == .initramfs ? nil : KernelCommandLine.read(path: cmdline)
        let result = manager.boot(dryRun: dryRun, commandLine: commandLine)
        print(result.assignments.shellText, terminator: "")
    }
}
