import Glibc
import SlotCore
import SlotCrypto

// The C API of libslotctl.so. Every function here is declared and documented
// in include/slotctl.h, which is the reference for callers; the comments here
// say how each is built. Only `slotctl_*` symbols leave the library
// (Sources/CSlotctl/slotctl.map).

/// Runs `body` for a call on a handle: a NULL handle is SLOTCTL_ERR_ARG
/// (recorded for this thread), a failure is recorded on the handle and its
/// status returned.
private func withHandle(
    _ pointer: OpaquePointer?, _ function: StaticString, _ body: (SlotctlHandle) throws(CFailure) -> Void
) -> Int32 {
    guard let pointer else {
        ThreadError.set("\(function): handle is NULL")
        return CStatus.invalidArgument
    }
    let handle = SlotctlHandle.borrow(pointer)
    do {
        try body(handle)
        return CStatus.ok
    } catch {
        handle.record(error)
        return error.status
    }
}

/// `withHandle` for calls that hand back a string: `*out` is NULL on entry
/// and stays NULL unless the call succeeds.
private func returningString(
    _ pointer: OpaquePointer?, _ out: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?, _ function: StaticString,
    _ body: (SlotctlHandle) throws(CFailure) -> String
) -> Int32 {
    out?.pointee = nil
    return withHandle(pointer, function) { (handle) throws(CFailure) in
        guard let out else { throw CFailure.null(function, "out") }
        let text = try handle.serialized { () throws(CFailure) -> String in try body(handle) }
        out.pointee = try CString.copy(text)
    }
}

/// Turns a SlotError thrown by the Swift API into a CFailure.
private func bridging<T>(_ body: () throws(SlotError) -> T) throws(CFailure) -> T {
    do {
        return try body()
    } catch {
        throw CFailure(error)
    }
}

// MARK: - Handles

@_cdecl("slotctl_open")
public func slotctl_open(_ configPath: UnsafePointer<CChar>?, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    guard let out else {
        ThreadError.set("slotctl_open: out is NULL")
        return CStatus.invalidArgument
    }
    out.pointee = nil
    do throws(CFailure) {
        let path = try configPath.map { (pointer) throws(CFailure) in try CString.read(pointer, "slotctl_open", "config_path") }
        let manager = try bridging { () throws(SlotError) in try SlotManager(configPath: path, sha256: CryptoSHA256.factory) }
        out.pointee = SlotctlHandle(manager: manager).retainedPointer()
        return CStatus.ok
    } catch {
        ThreadError.set(error.message)
        return error.status
    }
}

@_cdecl("slotctl_close")
public func slotctl_close(_ pointer: OpaquePointer?) -> Int32 {
    guard let pointer else { return CStatus.ok }
    let handle = SlotctlHandle.release(pointer)
    handle.stopUpdate()
    return CStatus.ok
}

@_cdecl("slotctl_last_error")
public func slotctl_last_error(_ pointer: OpaquePointer?) -> UnsafeMutablePointer<CChar>? {
    guard let pointer else { return ThreadError.copy() }
    guard let message = SlotctlHandle.borrow(pointer).lastError else { return nil }
    return strdup(message)
}

@_cdecl("slotctl_free")
public func slotctl_free(_ pointer: UnsafeMutableRawPointer?) {
    free(pointer)
}

// MARK: - Slots

@_cdecl("slotctl_status_json")
public func slotctl_status_json(_ pointer: OpaquePointer?, _ json: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    returningString(pointer, json, "slotctl_status_json") { handle in
        handle.manager.status().json.serialized
    }
}

@_cdecl("slotctl_boot")
public func slotctl_boot(_ pointer: OpaquePointer?, _ slot: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    returningString(pointer, slot, "slotctl_boot") { handle in
        // Never fails: whatever goes wrong, the answer is a slot (R at worst).
        handle.manager.boot(dryRun: false).assignments.slot.rawValue
    }
}

@_cdecl("slotctl_mark_good")
public func slotctl_mark_good(_ pointer: OpaquePointer?) -> Int32 {
    withHandle(pointer, "slotctl_mark_good") { (handle) throws(CFailure) in
        try handle.serialized { () throws(CFailure) in
            try bridging { () throws(SlotError) in _ = try handle.manager.markGood(nil) }
        }
    }
}

@_cdecl("slotctl_mark_bad")
public func slotctl_mark_bad(_ pointer: OpaquePointer?, _ slot: UnsafePointer<CChar>?) -> Int32 {
    withHandle(pointer, "slotctl_mark_bad") { (handle) throws(CFailure) in
        guard let slot else { throw CFailure.null("slotctl_mark_bad", "slot") }
        let text = try CString.read(slot, "slotctl_mark_bad", "slot")
        guard let name = SlotName(argument: text) else {
            throw CFailure(SlotError(.unknownSlot, "slotctl_mark_bad: unknown slot '\(text)' (A, B or R)"))
        }
        try handle.serialized { () throws(CFailure) in
            try bridging { () throws(SlotError) in try handle.manager.markBad(name) }
        }
    }
}

@_cdecl("slotctl_active_path")
public func slotctl_active_path(_ pointer: OpaquePointer?, _ path: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    returningString(pointer, path, "slotctl_active_path") { (handle) throws(CFailure) in
        try bridging { () throws(SlotError) in try handle.manager.activePath() }
    }
}

@_cdecl("slotctl_current_version")
public func slotctl_current_version(_ pointer: OpaquePointer?, _ version: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    returningString(pointer, version, "slotctl_current_version") { (handle) throws(CFailure) in
        // As `slotctl current`: the booted slot's recorded version.
        try bridging { () throws(SlotError) -> String in
            let manager = handle.manager
            let state = try manager.store.load()
            guard let booted = manager.bootedSlot(state: state) else {
                throw SlotError(.notProvisioned, "cannot tell which slot is booted")
            }
            guard let version = state[booted].version else {
                throw SlotError(.notProvisioned, "slot \(booted) has no recorded version")
            }
            return version
        }
    }
}

// MARK: - Updates

@_cdecl("slotctl_check_update")
public func slotctl_check_update(_ pointer: OpaquePointer?, _ available: UnsafeMutablePointer<Int32>?) -> Int32 {
    available?.pointee = 0
    return withHandle(pointer, "slotctl_check_update") { (handle) throws(CFailure) in
        guard let available else { throw CFailure.null("slotctl_check_update", "available") }
        let offered = try handle.serialized { () throws(CFailure) -> Bool in
            // `slotctl check`, run by the update module: 0 offered, 1 up to date.
            let module = try ModuleProcess.start(["--config", handle.manager.config.path, "check"])
            let (status, stderr) = module.finish { _ in }
            switch status {
            case 0: return true
            case 1: return false
            default: throw CFailure(ModuleProcess.cStatus(status), ModuleProcess.message(stderr, status: status))
            }
        }
        available.pointee = offered ? 1 : 0
    }
}

@_cdecl("slotctl_start_update")
public func slotctl_start_update(_ pointer: OpaquePointer?) -> Int32 {
    withHandle(pointer, "slotctl_start_update") { (handle) throws(CFailure) in
        try handle.serialized { () throws(CFailure) in try handle.startUpdate() }
    }
}

@_cdecl("slotctl_update_progress")
public func slotctl_update_progress(_ pointer: OpaquePointer?, _ out: UnsafeMutableRawPointer?) -> Int32 {
    withHandle(pointer, "slotctl_update_progress") { (handle) throws(CFailure) in
        guard let out else { throw CFailure.null("slotctl_update_progress", "out") }
        let progress = handle.update?.progress ?? ModuleUpdate.Progress(state: UpdateStateCode.idle)
        // struct slotctl_progress { int state; uint64_t bytes_done; uint64_t bytes_total; int32_t error; }:
        // offsets 0, 8, 16, 24 on every LP64 and ILP32 ABI with 8-byte uint64_t alignment
        // (checked by Tests/capi/capi_test.c with offsetof).
        out.storeBytes(of: progress.state, toByteOffset: 0, as: Int32.self)
        out.storeBytes(of: progress.bytesDone, toByteOffset: 8, as: UInt64.self)
        out.storeBytes(of: progress.bytesTotal, toByteOffset: 16, as: UInt64.self)
        out.storeBytes(of: progress.error, toByteOffset: 24, as: Int32.self)
        if progress.error != 0, progress.state == UpdateStateCode.failed || progress.state == UpdateStateCode.cancelled {
            handle.record(CFailure(progress.error, progress.message ?? "the update failed"))
        }
    }
}

@_cdecl("slotctl_cancel_update")
public func slotctl_cancel_update(_ pointer: OpaquePointer?) -> Int32 {
    withHandle(pointer, "slotctl_cancel_update") { handle in
        if let update = handle.update, update.isRunning { update.cancel() }
    }
}
