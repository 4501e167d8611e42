import Foundation
import SlotFuzz
import Testing

/// Every input in Fuzz/corpus (the seeds) and Fuzz/regressions (each crash
/// a fuzzer ever found, kept so it stays fixed) replayed through its target
/// in the ordinary build: a broken property stops the test process.
struct FuzzCorpusTests {
    static let fuzzDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fuzz")

    static func inputs(_ kind: String, _ target: FuzzTarget) -> [URL] {
        let directory = fuzzDirectory.appendingPathComponent(kind).appendingPathComponent(target.rawValue)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.sorted().map { directory.appendingPathComponent($0) }
    }

    @Test(arguments: FuzzTarget.allCases)
    func corpusAndRegressionsPass(target: FuzzTarget) throws {
        let seeds = Self.inputs("corpus", target)
        #expect(seeds.count >= 3, "Fuzz/corpus/\(target.rawValue) needs seeds")
        for file in seeds + Self.inputs("regressions", target) {
            target.run(Array(try Data(contentsOf: file)))
        }
    }
}
