import SlotServer

// `serve` runs Swift Concurrency on the server's own event loop threads: no
// thread hop between the socket and the route handler. This has to happen on
// the main thread before any other task runs, hence here and not in `run()`.
if CommandLine.arguments.dropFirst().first == "serve" {
    SlotServerApp.adoptEventLoopsAsGlobalExecutor()
}
await SlotServerCommand.parseAndRun()
