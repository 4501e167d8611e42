import SlotWire
import Testing

/// `update --json` lines: what the module writes is what the C API reads.
struct UpdateProgressLineTests {
    @Test func theDocumentedLineReadsAndWritesBack() throws {
        let documented = #"{"bytesDone":1048576,"bytesTotal":8388608,"releaseId":"3.0-989e214a","state":"downloading","version":"3.0"}"#
        let line = try UpdateProgressLine(json: documented)
        #expect(line == UpdateProgressLine(state: "downloading", bytesDone: 1_048_576, bytesTotal: 8_388_608, version: "3.0", releaseId: "3.0-989e214a"))
        #expect(line.json == documented, "the README's line, keys sorted")
    }

    @Test func aFailureSurvivesTheRoundTrip() throws {
        let failed = UpdateProgressLine(
            state: "failed", bytesDone: 5, bytesTotal: 10,
            error: .init(code: "bad-signature", exitCode: 3, message: "release r/1 is not signed \"by\" the key\nrefused"))
        #expect(try UpdateProgressLine(json: failed.json) == failed)
        #expect(!failed.json.contains("\n"), "one line")
        #expect(!failed.json.contains("version"), "absent fields are left out")
    }
}
