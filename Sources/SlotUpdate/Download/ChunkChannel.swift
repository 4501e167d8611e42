import Foundation
import FoundationNetworking

/// Hands downloaded bytes from URLSession's delegate queue to the thread
/// that installs them. The delegate never blocks (URLSession on Linux keeps
/// buffering whatever we do, and its `suspend()` can repeat data), so the
/// bound on memory comes from asking for the payload in segments.
final class ChunkChannel: @unchecked Sendable {
    enum Item {
        case response(HTTPURLResponse)
        case data(Data)
        case finished((any Error)?)
    }

    enum Received {
        case items([Item])
        case timedOut
        case closed
    }

    // Guarded by `condition`, which is signalled on every change.
    private let condition = NSCondition()
    private var items: [Item] = []
    private var closed = false

    func send(_ item: Item) {
        condition.lock()
        if !closed {
            items.append(item)
            condition.signal()
        }
        condition.unlock()
    }

    /// Everything queued so far (waiting until `deadline` for something).
    func receive(until deadline: Date) -> Received {
        condition.lock()
        defer { condition.unlock() }
        while items.isEmpty && !closed {
            if !condition.wait(until: deadline) { return .timedOut }
        }
        if items.isEmpty { return .closed }
        let batch = items
        items.removeAll(keepingCapacity: true)
        return .items(batch)
    }

    /// Drops whatever is queued and refuses more: late callbacks of a
    /// cancelled task go nowhere.
    func close() {
        condition.lock()
        closed = true
        items.removeAll()
        condition.broadcast()
        condition.unlock()
    }
}
