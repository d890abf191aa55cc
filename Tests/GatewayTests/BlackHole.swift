import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A webhook receiver that takes connections and never answers: a socket that listens and never
/// accepts. The kernel completes each handshake into the backlog and buffers the request, so the
/// sender sees a healthy server that is simply silent. Closing it resets every waiting connection.
final class BlackHole: Sendable {
    let port: Int
    private let descriptor: Int32
    private let open = Atomic<Bool>(true)

    init() throws {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw POSIXError(.EMFILE) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
                bind(descriptor, address, length) == 0 && listen(descriptor, 64) == 0 && getsockname(descriptor, address, &length) == 0
            }
        }
        guard bound else {
            close(descriptor)
            throw POSIXError(.EADDRINUSE)
        }
        self.descriptor = descriptor
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    var url: String { "http://127.0.0.1:\(port)/hook" }

    /// Closes the socket (once: a descriptor closed twice may be someone else's by then).
    func stop() {
        if open.exchange(false, ordering: .relaxed) { close(descriptor) }
    }
}
