import SlotctlCommands

// The SwiftPM build of slotctl (tests, `swift run`): the command line linked
// in. `make install` installs a launcher over libslotctl.so instead.
SlotctlCommand.run(arguments: Array(CommandLine.arguments.dropFirst()))
