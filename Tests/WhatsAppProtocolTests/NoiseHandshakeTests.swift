import Crypto
import Foundation
import PeerSupport
import SwiftProtobuf
import Testing
import WharfCore

@testable import WhatsAppProtocol

@Suite struct NoiseHandshakeTests {
    /// A moment inside the recorded certificates' validity (the leaf expired on 2025-07-28).
    static let recordedMoment = Date(timeIntervalSince1970: 1_753_000_000)

    /// Every intermediate value of a handshake whatsmeow made with WhatsApp's server, recomputed.
    @Test func recordedHandshakeIsReproducedStepByStep() throws {
        let vector = try Fixture.json("noise-handshake-xx.json")
        let flow = vector.object("full_handshake_flow")
        let constants = vector.object("constants")
        #expect(SymmetricState.protocolName == constants[hex: "noise_xx_name_padded_hex"])

        var state = SymmetricState(prologue: ClientHandshake.header())
        #expect(state.chainingKey == constants[hex: "salt_after_init_expected"])
        #expect(state.hash == flow[hex: "hash_after_prologue"])

        let clientEphemeral = try Curve25519.KeyAgreement.PrivateKey(rawRepresentation: flow[hex: "client_eph_priv"])
        #expect(Array(clientEphemeral.publicKey.rawRepresentation) == flow[hex: "client_eph_pub"])
        state.mixHash(flow[hex: "client_eph_pub"])
        // WhatsApp's deviation: no MixHash of the empty first payload here.
        #expect(state.hash == flow[hex: "hash_after_auth_client_eph"])

        state.mixHash(flow[hex: "server_eph_pub"])
        #expect(state.hash == flow[hex: "hash_after_auth_server_eph"])
        let serverEphemeral = try Curve25519.KeyAgreement.PublicKey(rawRepresentation: flow[hex: "server_eph_pub"])
        state.mixKey(try clientEphemeral.sharedSecretFromKeyAgreement(with: serverEphemeral))
        #expect(state.chainingKey == flow[hex: "salt_after_mix_1"])
        #expect(state.hash == flow[hex: "aad_for_decrypt_1"])

        let serverStatic = try state.decryptAndHash(flow[hex: "ciphertext_1"])
        #expect(serverStatic == flow[hex: "plaintext_1_server_static_pub"])
        #expect(state.hash == flow[hex: "hash_after_decrypt_1"])

        let serverStaticKey = try Curve25519.KeyAgreement.PublicKey(rawRepresentation: serverStatic)
        state.mixKey(try clientEphemeral.sharedSecretFromKeyAgreement(with: serverStaticKey))
        #expect(state.chainingKey == flow[hex: "salt_after_mix_2"])
        #expect(state.hash == flow[hex: "aad_for_decrypt_2"])
        let certificates = try state.decryptAndHash(flow[hex: "ciphertext_2"])
        #expect(certificates == flow[hex: "plaintext_2_cert_chain"])
        #expect(state.hash == flow[hex: "hash_after_decrypt_2"])
    }

    @Test func recordedSingleStepVectorsDecrypt() throws {
        let vector = try Fixture.json("noise-handshake-xx.json")
        let step = vector.object("server_static_key_decryption")
        var state = SymmetricState(prologue: [])
        let ephemeral = try Curve25519.KeyAgreement.PrivateKey(rawRepresentation: step[hex: "client_eph_priv"])
        let server = try Curve25519.KeyAgreement.PublicKey(rawRepresentation: step[hex: "server_eph_pub"])
        #expect(state.chainingKey == step[hex: "salt_before_mix"])
        state.mixKey(try ephemeral.sharedSecretFromKeyAgreement(with: server))
        #expect(state.chainingKey == step[hex: "salt_after_mix"])

        let live = vector.object("live_decryption")
        var cipher = CipherState(key: SymmetricKey(data: live[hex: "key"]))
        #expect(try cipher.open(live[hex: "ciphertext"], associatedData: live[hex: "aad"]) == live[hex: "expected_plaintext"])
    }

    func recordedServerHello() throws -> (hello: [UInt8], ephemeral: Curve25519.KeyAgreement.PrivateKey) {
        let flow = try Fixture.json("noise-handshake-xx.json").object("full_handshake_flow")
        var message = WAHandshakeMessage()
        message.serverHello.ephemeral = Data(flow[hex: "server_eph_pub"])
        message.serverHello.static = Data(flow[hex: "ciphertext_1"])
        message.serverHello.payload = Data(flow[hex: "ciphertext_2"])
        let ephemeral = try Curve25519.KeyAgreement.PrivateKey(rawRepresentation: flow[hex: "client_eph_priv"])
        return (try Array(message.serializedBytes() as Data), ephemeral)
    }

    /// The recorded server hello passes the real chain check: WhatsApp's root key signed the
    /// intermediate, so this also proves our XEdDSA verification against a signature made by Meta.
    @Test func recordedServerHelloIsAcceptedUnderWhatsAppsRoot() throws {
        let (hello, ephemeral) = try recordedServerHello()
        var handshake = ClientHandshake(staticKey: .init(), ephemeral: ephemeral)
        _ = handshake.clientHello()
        try handshake.receiveServerHello(hello, now: Self.recordedMoment)
        let flow = try Fixture.json("noise-handshake-xx.json").object("full_handshake_flow")
        #expect(handshake.serverStaticKey == flow[hex: "plaintext_1_server_static_pub"])
        #expect(handshake.hash == flow[hex: "hash_after_decrypt_2"])
    }

    @Test func recordedServerHelloIsRefusedWhenExpiredUntrustedOrTampered() throws {
        let (hello, ephemeral) = try recordedServerHello()
        var late = ClientHandshake(staticKey: .init(), ephemeral: ephemeral)
        _ = late.clientHello()
        #expect(throws: NoiseError.certificate("the leaf certificate has expired")) {
            try late.receiveServerHello(hello, now: Date(timeIntervalSince1970: 1_753_736_401))
        }

        var otherRoot = ClientHandshake(
            staticKey: .init(), ephemeral: ephemeral,
            trust: ServerCertificateTrust(rootKey: Array(Curve25519.KeyAgreement.PrivateKey().publicKey.rawRepresentation)))
        _ = otherRoot.clientHello()
        #expect(throws: NoiseError.certificate("the intermediate certificate's signature does not verify")) {
            try otherRoot.receiveServerHello(hello, now: Self.recordedMoment)
        }

        var tampered = hello
        tampered[tampered.count - 5] ^= 1
        var handshake = ClientHandshake(staticKey: .init(), ephemeral: ephemeral)
        _ = handshake.clientHello()
        #expect(throws: NoiseError.decryptionFailed) { try handshake.receiveServerHello(tampered, now: Self.recordedMoment) }

        var truncated = ClientHandshake(staticKey: .init(), ephemeral: ephemeral)
        _ = truncated.clientHello()
        #expect(throws: NoiseError.self) { try truncated.receiveServerHello(Array(hello.dropLast(20)), now: Self.recordedMoment) }
    }

    /// Runs our initiator against noiseprotocol (PyPI) playing WhatsApp's server.
    func handshakeWithPeer(mode: String) async throws -> (NoiseTransport, PeerProcess, clientStatic: [UInt8]) {
        let peer = try PeerProcess("wa_noise_responder.py", [mode])
        let root = try await peer.receive("root")
        let now = await Date(timeIntervalSince1970: TimeInterval(try peer.receiveText("now"))!)
        let staticKey = Curve25519.KeyAgreement.PrivateKey()
        var handshake = ClientHandshake(staticKey: staticKey, trust: ServerCertificateTrust(rootKey: root))
        peer.send("hello", handshake.clientHello())
        try await handshake.receiveServerHello(try peer.receive("server"), now: now)
        let payload = Array("ClientPayload goes here".utf8)
        let (finish, transport) = try handshake.clientFinish(payload: payload)
        peer.send("finish", finish)
        await #expect(try peer.receive("client-static") == Array(staticKey.publicKey.rawRepresentation))
        await #expect(try peer.receive("payload") == payload)
        return (transport, peer, Array(staticKey.publicKey.rawRepresentation))
    }

    @Test func handshakeAndTransportInteroperateWithNoiseprotocol() async throws {
        var (transport, peer, _) = try await handshakeWithPeer(mode: "ok")
        for text in ["first frame", "second", String(repeating: "x", count: 5000)] {
            peer.send("frame", try transport.encrypt(Array(text.utf8)))
            await #expect(try transport.decrypt(try peer.receive("frame")) == Array(("echo:" + text).utf8))
        }
    }

    @Test func aTruncatedOrReplayedTransportFrameIsRefused() async throws {
        var (transport, peer, _) = try await handshakeWithPeer(mode: "ok")
        peer.send("frame", try transport.encrypt(Array("ping".utf8)))
        let reply = try await peer.receive("frame")
        var copy = transport
        #expect(throws: NoiseError.decryptionFailed) { try copy.decrypt(Array(reply.dropLast(3))) }
        #expect(try transport.decrypt(reply) == Array("echo:ping".utf8))
        #expect(throws: NoiseError.decryptionFailed) { try transport.decrypt(reply) }  // the counter moved on
    }

    @Test(arguments: [
        ("wrong-root", "the intermediate certificate's signature does not verify"),
        ("wrong-leaf", "the leaf certificate is for another key than the server's static key"),
        ("expired", "the intermediate certificate has expired"),
    ])
    func aBadCertificateChainFromThePeerIsRefused(mode: String, reason: String) async throws {
        await #expect(throws: NoiseError.certificate(reason)) { _ = try await handshakeWithPeer(mode: mode) }
    }

    @Test func framesSurviveAnySplitOrPacking() throws {
        let vector = try Fixture.json("noise-frame-length-prefix.json")
        let cases = vector["cases"] as! [[String: Any]]
        var writer = FrameWriter(header: cases[0][hex: "header_hex"])
        #expect(try writer.frame(cases[0][hex: "payload_hex"]) == cases[0][hex: "expected_hex"])
        #expect(try writer.frame([9]) == [0, 0, 1, 9])  // the header goes out once

        var reader = FrameReader()
        reader.append(cases[1][hex: "stream_hex"])
        #expect(reader.next() == [0xAA, 0xBB])
        #expect(reader.next() == [0xCC, 0xDD, 0xEE])
        #expect(reader.next() == nil)

        // Three frames written as one stream, delivered in every way a WebSocket might cut it.
        var stream = FrameWriter(header: ClientHandshake.header())
        let payloads: [[UInt8]] = [Array(repeating: 1, count: 70_000), [], [2, 3]]
        let bytes = Array(try payloads.flatMap { try stream.frame($0) }.dropFirst(4))
        var random = SeededRandom(seed: 3)
        for _ in 0..<50 {
            var reader = FrameReader()
            var received: [[UInt8]] = []
            var offset = 0
            while offset < bytes.count {
                let size = min(bytes.count - offset, Int.random(in: 1...4000, using: &random))
                reader.append(bytes[offset..<offset + size])
                offset += size
                while let frame = reader.next() { received.append(frame) }
            }
            #expect(received == payloads)
            #expect(reader.bufferedCount == 0)
        }
        #expect(throws: FrameWriter.Failure.payloadTooLarge(1 << 24)) {
            try stream.frame([UInt8](repeating: 0, count: 1 << 24))
        }
    }
}
