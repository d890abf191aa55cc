import Foundation
import GRDB
import Testing
import WharfCore

@testable import Gateway

/// One session's damaged stored state stops that session, with the reason, and nothing else.
@Suite struct CorruptStateTests {
    @Test func aCorruptCredentialRowFailsOneSessionOnly() async throws {
        let directory = TestWharf.temporaryDirectory()
        let (token, damaged, healthy) = try await TestWharf.run(dataDirectory: directory) { app in
            let tenant = try await app.makeTenant("corrupt")
            let damaged = try await app.makeConnectedSession(token: tenant.token, name: "damaged")
            let healthy = try await app.makeConnectedSession(token: tenant.token, name: "healthy")
            return (tenant.token, damaged, healthy)
        }
        // A damaged row: still sealed-looking, but not what was written.
        let database = try DatabaseQueue(path: (directory as NSString).appendingPathComponent("wharf.sqlite"))
        try await database.write { db in
            try db.execute(
                sql: "UPDATE session_credential SET value = ? WHERE session_id = ?",
                arguments: [Data([0x57, 0x58, 0x01]) + Data(repeating: 0xAB, count: 40), damaged])
        }
        try database.close()

        try await TestWharf.run(dataDirectory: directory) { app in
            try await app.waitForStatus(healthy, "connected", token: token)
            try await app.waitForStatus(damaged, "stopped", token: token)
            let detail = try await app.call(.get, "/v1/sessions/\(damaged)", as: .bearer(token)).string("statusDetail") ?? ""
            #expect(detail.contains("cannot be read"), "\(detail)")
            #expect(!detail.lowercased().contains("whatsapp rejected"), "a local fault must not be blamed on WhatsApp: \(detail)")
            #expect(try await app.call(.get, "/health").status == .ok)
            let sent = try await app.call(
                .post, "/v1/sessions/\(healthy)/messages?wait=5", json: ["chatId": "4915100000077", "text": "still here", "humanize": false],
                as: .bearer(token))
            #expect(sent.string("status") == "sent", "\(sent.text)")
        }
    }
}
