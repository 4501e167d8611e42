import Glibc

/// Where `install` reads an image from: a file or standard input.
public enum ImageInput: Sendable, Equatable {
    case file(String)
    case standardInput

    /// Opens the input; a missing or unreadable file fails here, before
    /// anything about the slots has changed.
    func open() throws(SlotError) -> OpenedImageInput {
        switch self {
        case .standardInput:
            return OpenedImageInput(descriptor: FileDescriptor(rawValue: STDIN_FILENO, path: "<stdin>"), size: nil, ownsDescriptor: false)
        case .file(let path):
            let fd: FileDescriptor
            do throws(SlotError) {
                fd = try FileDescriptor.open(path)
            } catch {
                throw SlotError(.io, "cannot open image '\(path)'", cause: error.cause)
            }
            do throws(SlotError) {
                let info = try fd.stat()
                if info.isDirectory {
                    fd.close()
                    throw SlotError(.usage, "image '\(path)' is a directory")
                }
                fd.adviseSequential()
                return OpenedImageInput(descriptor: fd, size: info.isRegularFile ? info.size : nil, ownsDescriptor: true)
            } catch {
                fd.close()
                throw error
            }
        }
    }
}

/// An open image input and what is known about it up front.
struct OpenedImageInput {
    let descriptor: FileDescriptor
    /// Bytes in the input when it is a regular file.
    let size: UInt64?
    let ownsDescriptor: Bool

    func close() { if ownsDescriptor { descriptor.close() } }

    /// Reads the first bytes without consuming them when possible (files),
    /// or returns them to be fed first (pipes).
    func peek(_ count: Int) throws(SlotError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var got = 0
        if size != nil {
            got = try bytes.withUnsafeMutableBytes { buffer in
                Result { () throws(SlotError) in try descriptor.readFully(into: buffer, at: 0) }
            }.get()
        } else {
            while got < count {
                let n = try bytes.withUnsafeMutableBytes { buffer in
                    Result { () throws(SlotError) in try descriptor.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[got...])) }
                }.get()
                if n == 0 { break }
                got += n
            }
        }
        return Array(bytes[0..<got])
    }
}
