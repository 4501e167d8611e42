import Glibc
import SlotCore
import Synchronization

/// Strings crossing the C boundary.
enum CString {
    /// A malloc'ed copy for the caller, who frees it with `slotctl_free`.
    static func copy(_ text: String) throws(CFailure) -> UnsafeMutablePointer<CChar> {
        guard let pointer = strdup(text) else {
            throw CFailure(CStatus.outOfMemory, "out of memory")
        }
        return pointer
    }

    /// A caller's string argument, which must be UTF-8.
    static func read(_ pointer: UnsafePointer<CChar>, _ function: StaticString, _ argument: StaticString) throws(CFailure) -> String {
        guard let text = String(validatingCString: pointer) else {
            throw CFailure(CStatus.invalidArgument, "\(function): \(argument) is not valid UTF-8")
        }
        return text
    }
}

/// The message of the last failure of a call that had no handle to record it
/// in (`slotctl_open`, or any call given a NULL handle), one per thread: what
/// `slotctl_last_error(NULL)` returns.
enum ThreadError {
    /// A thread-specific malloc'ed C string, freed when replaced or when the
    /// thread exits.
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        let rc = pthread_key_create(&key) { value in free(value) }
        precondition(rc == 0, "pthread_key_create failed: \(rc)")
        return key
    }()

    static func set(_ message: String) {
        let old = pthread_getspecific(key)
        pthread_setspecific(key, strdup(message))
        free(old)
    }

    static func copy() -> UnsafeMutablePointer<CChar>? {
        guard let value = pthread_getspecific(key) else { return nil }
        return strdup(value.assumingMemoryBound(to: CChar.self))
    }
}
