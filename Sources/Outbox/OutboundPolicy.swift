import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Decides which URLs Wharf may reach on a tenant's behalf (webhooks, media downloads).
///
/// A tenant who could make Wharf POST to `http://127.0.0.1:5001/…` or `http://169.254.169.254/` would
/// reach things only the server should reach. So private, loopback, link-local and other special
/// addresses are refused unless the operator allow-lists them (`OUTBOUND_ALLOW`), by host name or
/// by CIDR. Host names are resolved, and every address they resolve to must pass.
public struct OutboundPolicy: Sendable, Equatable {
    /// The configuration setting that allow-lists targets; named in every refusal.
    public static let settingName = "OUTBOUND_ALLOW"

    private let hosts: Set<String>
    private let networks: [IPNetwork]

    /// Everything refused unless it is public.
    public static let strict = OutboundPolicy(hosts: [], networks: [])

    /// Parses allow-list entries: host names (`n8n.internal`) or CIDRs / addresses (`10.0.0.0/8`, `::1`).
    public init(allowing entries: [String]) throws(OutboundPolicyError) {
        var hosts: Set<String> = []
        var networks: [IPNetwork] = []
        for raw in entries {
            let entry = raw.trimmingCharacters(in: .whitespaces).lowercased()
            if entry.isEmpty { continue }
            if let network = IPNetwork(parsing: entry) {
                networks.append(network)
            } else if entry.contains("/") || !Self.isValidHostName(entry) {
                throw .invalidEntry(raw)
            } else {
                hosts.insert(entry)
            }
        }
        self.init(hosts: hosts, networks: networks)
    }

    private init(hosts: Set<String>, networks: [IPNetwork]) {
        self.hosts = hosts
        self.networks = networks
    }

    /// Checks that `url` is an http(s) URL whose host is public or allow-listed.
    ///
    /// - Parameter resolve: resolves a host name to addresses; defaults to the system resolver.
    public func check(
        _ url: URL, resolve: (String) -> [IPAddress] = OutboundPolicy.systemResolve
    ) throws(OutboundPolicyError) {
        guard let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https" else {
            throw .unsupportedScheme(url.scheme ?? "")
        }
        guard let host = url.host(percentEncoded: false), !host.isEmpty else {
            throw .missingHost
        }
        _ = try addresses(ofHost: host, resolve: hosts.contains(host.lowercased()) ? { _ in [] } : resolve)
    }

    /// The addresses `host` may be connected at: what it resolves to (or the address it is), each
    /// public or allow-listed, or anything for an allow-listed name. Throws when any address is
    /// refused, so that a name cannot smuggle one forbidden address among good ones.
    public func addresses(
        ofHost name: String, resolve: (String) -> [IPAddress] = OutboundPolicy.systemResolve
    ) throws(OutboundPolicyError) -> [IPAddress] {
        var host = name.lowercased()
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        let addresses = IPAddress(parsing: host).map { [$0] } ?? resolve(host)
        if hosts.contains(host) { return addresses }
        for address in addresses where address.isSpecialPurpose {
            if networks.contains(where: { $0.contains(address) }) { continue }
            throw .forbiddenAddress(host: host, address: address.description)
        }
        return addresses
    }

    /// Whether a resolved address may be connected to (used at connect time, against DNS rebinding).
    public func permits(_ address: IPAddress) -> Bool {
        !address.isSpecialPurpose || networks.contains { $0.contains(address) }
    }

    /// Whether a connection for `url` may go to `address`: an allow-listed host name may reach
    /// whatever it resolves to, for that name only (the address itself stays refused under any
    /// other name); any other host only a public or allow-listed address.
    public func permits(_ address: IPAddress, connectingTo url: String) -> Bool {
        if let host = Self.host(of: url), hosts.contains(host) { return true }
        return permits(address)
    }

    /// The lower-cased host of a URL, without IPv6 brackets.
    static func host(of url: String) -> String? {
        guard var host = URL(string: url)?.host(percentEncoded: false)?.lowercased(), !host.isEmpty else { return nil }
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return host
    }

    /// Resolves `host` with `getaddrinfo`; an unresolvable host yields no addresses.
    public static func systemResolve(_ host: String) -> [IPAddress] {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &result) == 0, let first = result else { return [] }
        defer { freeaddrinfo(first) }
        var addresses: [IPAddress] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let info = cursor {
            if let address = IPAddress(sockaddr: info.pointee.ai_addr) { addresses.append(address) }
            cursor = info.pointee.ai_next
        }
        return addresses
    }

    private static func isValidHostName(_ name: String) -> Bool {
        let labels = name.split(separator: ".", omittingEmptySubsequences: false)
        return !labels.isEmpty && name.count <= 253
            && labels.allSatisfy { label in
                !label.isEmpty && label.count <= 63 && !label.hasPrefix("-") && !label.hasSuffix("-")
                    && label.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }
            }
    }
}

/// Why a URL may not be reached.
public enum OutboundPolicyError: Error, Equatable, CustomStringConvertible {
    case invalidEntry(String)
    case unsupportedScheme(String)
    case missingHost
    case forbiddenAddress(host: String, address: String)

    public var description: String {
        switch self {
        case .invalidEntry(let entry):
            "\(OutboundPolicy.settingName) entry '\(entry)' is neither a host name nor an IP address or CIDR"
        case .unsupportedScheme(let scheme):
            "only http and https URLs are allowed (got '\(scheme)')"
        case .missingHost:
            "the URL has no host"
        case .forbiddenAddress(let host, let address):
            "'\(host)' resolves to \(address), a private, loopback or link-local address; "
                + "add it to \(OutboundPolicy.settingName) to allow it"
        }
    }
}
