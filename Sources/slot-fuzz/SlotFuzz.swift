import Glibc
import SlotFuzz

// slot-fuzz: one program for every fuzz target (Fuzz/README.md); the target
// is named by $SLOT_FUZZ_TARGET.
//
// Built by Fuzz/run.sh with `-sanitize=fuzzer,address -DSLOT_FUZZING`, it is a
// libFuzzer binary: SwiftPM links an executable's entry point as `main`
// (--defsym main=slot_fuzz_main), so that entry hands libFuzzer's driver the
// target. In an ordinary build it replays the files named on its command line
// through the target, which is how a crash found elsewhere is reproduced
// without sanitizers.

func selectedTarget() -> FuzzTarget {
    let name = getenv("SLOT_FUZZ_TARGET").map { String(cString: $0) } ?? ""
    guard let target = FuzzTarget(rawValue: name) else {
        let names = FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")
        var text = "slot-fuzz: set SLOT_FUZZ_TARGET to one of: \(names)\n"
        text.withUTF8 { _ = write(STDERR_FILENO, $0.baseAddress, $0.count) }
        exit(2)
    }
    return target
}

#if SLOT_FUZZING
nonisolated(unsafe) var fuzzTarget = FuzzTarget.state

@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
) -> Int32

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    fuzzTarget.run(size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}

@_cdecl("slot_fuzz_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    fuzzTarget = selectedTarget()
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv, fuzzOneInput)
}
#else
@main
enum Replay {
    static func main() {
        let target = selectedTarget()
        for path in CommandLine.arguments.dropFirst() {
            guard let file = fopen(path, "rb") else {
                var text = "slot-fuzz: cannot open \(path)\n"
                text.withUTF8 { _ = write(STDERR_FILENO, $0.baseAddress, $0.count) }
                exit(2)
            }
            var bytes: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let count = fread(&buffer, 1, buffer.count, file)
                if count <= 0 { break }
                bytes += buffer[..<count]
            }
            fclose(file)
            target.run(bytes)
            print("\(target.rawValue): \(path): ok")
        }
    }
}
#endif
