import Foundation

/// The media hosts and the upload token (`<media_conn>`), good until its ttl runs out.
struct MediaConnection: Sendable, Equatable {
    var auth: String
    /// `host[:port]` names, the primary first.
    var hosts: [String]
    var expires: Date

    /// From the answer to `<iq xmlns="w:m" type="set"><media_conn/></iq>`; `nil` without auth or hosts.
    init?(_ node: BinaryNode, now: Date) {
        guard let auth = node.string("auth"), !auth.isEmpty else { return nil }
        let hosts = node.children.filter { $0.tag == "host" }.compactMap { $0.string("hostname") }.filter { !$0.isEmpty }
        guard !hosts.isEmpty else { return nil }
        // whatsapp-rust keeps it for the shorter of the two lifetimes; so does Wharf.
        let ttl = [node.string("ttl"), node.string("auth_ttl")].compactMap { $0.flatMap(Int.init) }.filter { $0 > 0 }.min() ?? 300
        self.auth = auth
        self.hosts = hosts
        self.expires = now.addingTimeInterval(TimeInterval(ttl))
    }

    /// Where to fetch a file from: each host with the path (which carries its own query).
    func downloadURLs(directPath: String) -> [String] {
        let path = directPath.hasPrefix("/") ? directPath : "/" + directPath
        return hosts.map { "https://\($0)\(path)" }
    }
}
