import Glibc

/// A bounded FIFO between threads, on a pthread mutex and condition
/// variables. `close()` wakes everyone: pops then drain what is left and
/// return nil, pushes are dropped.
public final class BlockingQueue<Element>: @unchecked Sendable {
    // All mutable state below is guarded by `mutex`.
    // Heap-allocated: pthread objects must not move, and `&property` on a
    // class gives no stable address.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let notEmpty = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private let notFull = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var items: [Element] = []
    private var head = 0
    private var closed = false
    private let capacity: Int

    public init(capacity: Int) {
        self.capacity = capacity
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(notEmpty, nil)
        pthread_cond_init(notFull, nil)
    }

    deinit {
        pthread_cond_destroy(notFull)
        pthread_cond_destroy(notEmpty)
        pthread_mutex_destroy(mutex)
        notFull.deallocate()
        notEmpty.deallocate()
        mutex.deallocate()
    }

    /// Adds an element, waiting while the queue is full; false once closed.
    @discardableResult
    public func push(_ element: Element) -> Bool {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        while items.count - head >= capacity && !closed {
            pthread_cond_wait(notFull, mutex)
        }
        if closed { return false }
        items.append(element)
        pthread_cond_signal(notEmpty)
        return true
    }

    /// Takes the oldest element, waiting while empty; nil once closed and drained.
    public func pop() -> Element? {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        while items.count == head && !closed {
            pthread_cond_wait(notEmpty, mutex)
        }
        guard items.count > head else { return nil }
        let element = items[head]
        head += 1
        if head > 64 && head * 2 > items.count {
            items.removeFirst(head)
            head = 0
        }
        pthread_cond_signal(notFull)
        return element
    }

    public func close() {
        pthread_mutex_lock(mutex)
        closed = true
        pthread_cond_broadcast(notEmpty)
        pthread_cond_broadcast(notFull)
        pthread_mutex_unlock(mutex)
    }
}
