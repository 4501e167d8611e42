import SlotctlCommands

// The SwiftPM build of slotctl (tests, `swift run`): the command line linked
// in. `make install` installs a launcher into libslotctl.so instead.
SlotctlCommand.run(arguments: Array(CommandLine.arguments.dropFirst()))
