import Crypto
import Foundation
import JWTKit
import WharfCore

/// Issues and checks tenant login tokens: HS256 JWTs with an expiry.
public struct TokenIssuer: Sendable {
    struct Claims: JWTPayload {
        var sub: SubjectClaim
        var tid: String
        var iat: IssuedAtClaim
        var exp: ExpirationClaim
        /// The user's token version when issued (absent in tokens of earlier versions: 0).
        var ver: Int?

        /// Expiry is checked against the injected clock by ``TokenIssuer/verify(_:)`` instead.
        func verify(using algorithm: some JWTAlgorithm) async throws {}
    }

    private let keys: JWTKeyCollection
    private let lifetime: Duration
    private let clock: any WharfClock

    /// - Parameter secret: at least 32 bytes; HS256 needs a key as long as its hash.
    public init(secret: String, lifetime: Duration, clock: any WharfClock) async {
        precondition(secret.utf8.count >= 32, "JWT secret must be at least 32 bytes")
        keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        self.lifetime = lifetime
        self.clock = clock
    }

    /// A token for `userID` of `tenantID` at the user's token `version`, and when it expires.
    public func issue(userID: String, tenantID: String, version: Int = 0) async throws -> (token: String, expiresAt: Date) {
        let now = clock.now
        let expiresAt = now.addingTimeInterval(lifetime.timeInterval)
        let claims = Claims(
            sub: SubjectClaim(value: userID), tid: tenantID, iat: IssuedAtClaim(value: now),
            exp: ExpirationClaim(value: expiresAt), ver: version)
        return (try await keys.sign(claims), expiresAt)
    }

    /// The user, tenant and token version a valid, unexpired token names; `nil` for anything else.
    public func verify(_ token: String) async -> (userID: String, tenantID: String, version: Int)? {
        guard let claims = try? await keys.verify(token, as: Claims.self) else { return nil }
        guard claims.exp.value > clock.now else { return nil }
        return (claims.sub.value, claims.tid, claims.ver ?? 0)
    }
}
