import Foundation

/// Reads the recorded WhatsApp vectors in `Fixtures/whatsapp` (see SOURCES.md there for where each
/// one comes from and under which licence).
enum Fixture {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/whatsapp")

    static func json(_ name: String) throws -> [String: Any] {
        let data = try Data(contentsOf: directory.appendingPathComponent(name))
        return try JSONSerialization.jsonObject(with: data) as! [String: Any]
    }
}

extension [String: Any] {
    subscript(hex key: String) -> [UInt8] {
        [UInt8](hex: self[key] as! String)!
    }

    func object(_ key: String) -> [String: Any] { self[key] as! [String: Any] }
}
