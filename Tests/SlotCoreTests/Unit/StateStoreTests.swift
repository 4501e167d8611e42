import Glibc
import SlotTestSupport
import Testing
@testable import SlotCore

@Suite(.serialized) struct StateStoreTests {
    func sampleState() -> SystemState {
        var state = SystemState()
        state[.A].status = .good
        state[.A].priority = 1
        state[.A].tries = 3
        state[.A].version = "1.0 with spaces % and\nnewline"
        state[.A].size = 123
        state[.A].crc32 = 0x1a2b_3c4d
        state[.A].sha256 = String(repeating: "ab", count: 32)
        state[.A].fstype = "ext4"
        state[.A].installed = 1_700_000_000
        state[.A].boots = 7
        state[.B].markBad("boot attempts exhausted")
        state.booted = .init(slot: .A, seq: 4)
        state.securityVersion = 3
        state.recoveryOnce = true
        state.record(.fellBack, slot: .B, "boot attempts exhausted", at: 1_700_000_001)
        state.record(.factoryReset, slot: nil, "detail = with = equals", at: 1_700_000_002)
        return state
    }

    @Test func roundTripsEveryField() throws {
        var state = sampleState()
        state.seq = 42
        let decoded = try StateCodec.decode(StateCodec.encode(state))
        #expect(decoded == state)
    }

    @Test func aFlippedBitAnywhereIsDetected() {
        var state = sampleState()
        state.seq = 9
        let bytes = StateCodec.encode(state)
        for index in bytes.indices {
            for bit in [0, 3, 7] {
                var damaged = bytes
                damaged[index] ^= 1 << bit
                #expect(throws: StateCodec.DecodeError.self, "byte \(index) bit \(bit)") { try StateCodec.decode(damaged) }
            }
        }
    }

    @Test func everyTruncationIsDetected() {
        let bytes = StateCodec.encode(sampleState())
        for length in 0..<bytes.count {
            #expect(throws: StateCodec.DecodeError.self, "length \(length)") { try StateCodec.decode(Array(bytes.prefix(length))) }
        }
        #expect(throws: StateCodec.DecodeError.self) { try StateCodec.decode(bytes + [0]) }
    }

    @Test func missingIsNotCorrupt() throws {
        let dir = TempDirectory()
        let store = StateStore(directory: dir.path)
        #expect(store.snapshot().isMissing)
        do {
            _ = try store.load()
            Issue.record("expected notProvisioned")
        } catch {
            #expect(error.code == .notProvisioned)
            #expect(error.exitCode == 5)
        }
    }

    @Test func writesAlternateAndTheNewestValidCopyWins() throws {
        let dir = TempDirectory()
        let store = StateStore(directory: dir.path)
        var state = sampleState()
        let first = try store.write(state)
        #expect(first.seq == 1)
        #expect(FileSystem.exists(store.copyPath(0)) && !FileSystem.exists(store.copyPath(1)))
        state = first
        state.securityVersion = 4
        let second = try store.write(state)
        #expect(second.seq == 2)
        #expect(try StateCodec.decode(dir.read("state.1")).seq == 2)
        #expect(try StateCodec.decode(dir.read("state.0")).seq == 1)
        state = second
        state.securityVersion = 5
        _ = try store.write(state)
        // The third write went to the older copy, state.0.
        #expect(try StateCodec.decode(dir.read("state.0")).seq == 3)
        #expect(try store.load().securityVersion == 5)
    }

    @Test func oneCorruptCopyFallsBackToTheOther() throws {
        let dir = TempDirectory()
        let store = StateStore(directory: dir.path)
        var state = try store.write(sampleState())
        state.securityVersion = 9
        state = try store.write(state)  // state.1, seq 2
        var newest = dir.read("state.1")
        newest[30] ^= 0x10
        dir.write("state.1", bytes: newest)
        let loaded = try store.load()
        #expect(loaded.seq == 1)
        #expect(loaded.securityVersion == 3)
        #expect(store.snapshot().problems.first?.contains("state.1: CRC mismatch") == true)
        // The next write repairs the corrupt copy, never the good one.
        let repaired = try store.write(loaded)
        #expect(repaired.seq == 2)
        #expect(try StateCodec.decode(dir.read("state.0")).seq == 1)
        #expect(try StateCodec.decode(dir.read("state.1")).seq == 2)
    }

    @Test func oneMissingCopyIsFine() throws {
        let dir = TempDirectory()
        let store = StateStore(directory: dir.path)
        var state = try store.write(sampleState())
        state = try store.write(state)
        unlink(store.copyPath(1))
        #expect(try store.load().seq == 1)
    }

    @Test func bothCopiesCorruptIsAnErrorNamingBoth() throws {
        let dir = TempDirectory()
        let store = StateStore(directory: dir.path)
        let state = try store.write(sampleState())
        _ = try store.write(state)
        dir.write("state.0", bytes: Array(dir.read("state.0").prefix(10)))
        var other = dir.read("state.1")
        other[other.count - 1] ^= 1
        dir.write("state.1", bytes: other)
        do {
            _ = try store.load()
            Issue.record("expected stateCorrupt")
        } catch {
            #expect(error.code == .stateCorrupt)
            #expect(error.message.contains("state.0: truncated"))
            #expect(error.message.contains("state.1: CRC mismatch"))
        }
        #expect(!store.snapshot().isMissing)
    }

    /// A write that fails at any syscall leaves the previous state readable;
    /// once the rename happened, the new state may be the one read, but never
    /// anything else.
    @Test(arguments: [
        ("open", "state.1.tmp", 0, [1]), ("write", "state.1.tmp", 0, [1]), ("fsync", "state.1.tmp", 0, [1]),
        ("rename", "state.1", 0, [1]), ("fsync", "", 1, [1, 2]), ("open", "state.1", 1, [1, 2]), ("read", "state.1", 0, [1, 2]),
    ] as [(String, String, Int, [UInt64])])
    func aFailedWriteKeepsAValidState(call: String, path: String, afterHits: Int, allowed: [UInt64]) throws {
        try #require(FaultInjection.isAvailable, "fault injection needs a debug build")
        let dir = TempDirectory()
        let store = StateStore(directory: dir.path)
        let first = try store.write(sampleState())
        var next = first
        next.securityVersion = 99
        // Scoped to this test's directory: other tests run in parallel.
        let rule = FaultInjection.fail(call, pathContaining: path.isEmpty ? dir.path : dir.path + "/" + path, errno: EIO, afterHits: afterHits)
        #expect(throws: SlotError.self) { try store.write(next) }
        FaultInjection.remove(rule)
        let loaded = try store.load()
        #expect(allowed.contains(loaded.seq))
        #expect(loaded.securityVersion == (loaded.seq == 1 ? 3 : 99))
    }

    @Test func theLockExcludesOtherHolders() throws {
        let dir = TempDirectory()
        let store = StateStore(directory: dir.path)
        let held = try FileLock.acquire(path: store.lockPath, timeout: 0, what: "test")
        defer { held.release() }
        // flock locks belong to the open file description: a second open in
        // the same process conflicts just as another process would.
        do {
            try store.withLock(timeout: 0.1) {}
            Issue.record("expected lockHeld")
        } catch {
            #expect(error.code == .lockHeld)
            #expect(error.exitCode == 5)
        }
    }
}
