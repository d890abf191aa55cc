import Foundation
import HTTPTypes
import Hummingbird
import Outbox

/// Believes `X-Forwarded-For` (or RFC 7239 `Forwarded: for=`) only from the proxies in
/// `TRUSTED_PROXIES`: the client is the rightmost address in the chain that is not itself one of
/// them. From anyone else the headers are ignored, so a client cannot pick the address its login
/// attempts are counted under.
struct ClientAddressMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let trusted: [IPNetwork]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        if !trusted.isEmpty, let peer = context.remoteAddress?.ipAddress.flatMap(IPAddress.init(parsing:)), isTrusted(peer) {
            context.forwardedAddress = client(in: request)
        }
        return try await next(request, context)
    }

    private func isTrusted(_ address: IPAddress) -> Bool { trusted.contains { $0.contains(address) } }

    /// The chain the headers give, nearest hop last; the first untrusted from the right.
    func client(in request: Request) -> String? {
        var chain: [String] = []
        if let forwarded = request.headers[HTTPField.Name("Forwarded")!] {
            for element in forwarded.split(separator: ",") {
                for pair in element.split(separator: ";") {
                    let parts = pair.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                    guard parts.count == 2, parts[0].lowercased() == "for" else { continue }
                    var value = parts[1].trimmingCharacters(in: CharacterSet(charactersIn: "\""))
                    if value.hasPrefix("["), let end = value.firstIndex(of: "]") {
                        value = String(value[value.index(after: value.startIndex)..<end])
                    } else if value.filter({ $0 == ":" }).count == 1, let colon = value.firstIndex(of: ":") {
                        value = String(value[..<colon])
                    }
                    chain.append(value)
                }
            }
        } else if let header = request.headers[HTTPField.Name("X-Forwarded-For")!] {
            chain = header.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        }
        for hop in chain.reversed() {
            guard let address = IPAddress(parsing: hop) else { return nil }
            if !isTrusted(address) { return address.description }
        }
        return nil
    }
}
