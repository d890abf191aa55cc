import Foundation
import SwiftProtobuf
import WharfCore

/// Checks the certificate chain a WhatsApp server sends inside its Noise hello: the root key signs
/// the intermediate, the intermediate signs the leaf, and the leaf is the server's static key.
///
/// The root is WhatsApp's long-term key unless configuration replaces it (`WA_ROOT_KEY`), which only
/// a test server should ever need.
public struct ServerCertificateTrust: Sendable {
    /// WhatsApp's root ("WhatsAppLongTerm1", serial 0), as whatsmeow, Baileys and whatsapp-rust carry it.
    public static let whatsAppRootKey: [UInt8] = Array(hex: "142375574d0a587166aae71ebe516437c4a28b73e3695c6ce1f7f9545da8ee6b")!

    public var rootKey: [UInt8]
    public var rootSerial: UInt32

    public init(rootKey: [UInt8] = Self.whatsAppRootKey, rootSerial: UInt32 = 0) {
        self.rootKey = rootKey
        self.rootSerial = rootSerial
    }

    /// Verifies the serialized `CertChain` for `serverStaticKey` at time `now`.
    public func verify(chain bytes: [UInt8], serverStaticKey: [UInt8], now: Date) throws(NoiseError) {
        guard let chain = try? WACertChain(serializedBytes: bytes), chain.hasLeaf, chain.hasIntermediate else {
            throw .certificate("the certificate chain is not a CertChain with a leaf and an intermediate")
        }
        let intermediate = try details(of: chain.intermediate, signedBy: rootKey, name: "intermediate")
        guard intermediate.issuerSerial == rootSerial else {
            throw .certificate("the intermediate certificate names issuer \(intermediate.issuerSerial), not the root")
        }
        guard intermediate.key.count == 32 else { throw .certificate("the intermediate key is not 32 bytes") }
        let leaf = try details(of: chain.leaf, signedBy: Array(intermediate.key), name: "leaf")
        guard leaf.issuerSerial == intermediate.serial else {
            throw .certificate("the leaf certificate names issuer \(leaf.issuerSerial), not the intermediate")
        }
        guard Array(leaf.key) == serverStaticKey else {
            throw .certificate("the leaf certificate is for another key than the server's static key")
        }
        let seconds = UInt64(max(0, now.timeIntervalSince1970))
        for (name, certificate) in [("intermediate", intermediate), ("leaf", leaf)] {
            if certificate.hasNotBefore, seconds < certificate.notBefore {
                throw .certificate("the \(name) certificate is not valid yet")
            }
            if certificate.hasNotAfter, seconds > certificate.notAfter {
                throw .certificate("the \(name) certificate has expired")
            }
        }
    }

    private func details(
        of certificate: WACertChain.NoiseCertificate, signedBy key: [UInt8], name: String
    ) throws(NoiseError) -> WACertChain.NoiseCertificate.Details {
        guard XEdDSA.verify(certificate.signature, of: certificate.details, publicKey: key) else {
            throw .certificate("the \(name) certificate's signature does not verify")
        }
        guard let details = try? WACertChain.NoiseCertificate.Details(serializedBytes: certificate.details) else {
            throw .certificate("the \(name) certificate's details do not parse")
        }
        return details
    }
}
