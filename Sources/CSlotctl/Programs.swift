// slotctl's command line for the installed launcher (launcher/slotctl.c): a
// few-KB executable calls `slotctl_main`, and the core and the Swift runtime
// exist once on the device, here. Not part of the API in slotctl.h; exported
// in its own symbol version (slotctl.map).
import SlotctlCommands

/// `slotctl ARGS`: exits on failure, returns 0 on success.
@_cdecl("slotctl_main")
public func slotctl_main(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    guard let argv else { return 2 }
    // argv[1...] as Swift strings, as `CommandLine.arguments` has them (bytes
    // that are not UTF-8 repaired).
    SlotctlCommand.run(arguments: (1..<Int(max(argc, 1))).compactMap { argv[$0].map { String(cString: $0) } })
    return 0
}
