/// Why a Noise handshake or transport frame was refused.
public enum NoiseError: Error, Equatable, Sendable {
    case decryptionFailed
    case nonceExhausted
    case malformedHandshake(String)
    case certificate(String)
    case notReady
}
