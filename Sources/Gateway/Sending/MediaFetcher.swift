import Foundation
import Outbox
import WharfCore
import WhatsAppProtocol

/// Fetches media for a send job, before the job is accepted, so a bad URL is a clear 4xx now rather
/// than a failed message later: through the outbound-address policy, within a size cap for its
/// kind, a timeout, and a content type that fits the kind. Failures are ``MediaError``s.
struct MediaFetcher: Sendable {
    let downloader: any MediaDownloader
    let policy: OutboundPolicy
    let directory: String
    let timeout: Duration

    /// WhatsApp's own limits per kind.
    static func sizeLimit(_ kind: MediaKind) -> Int {
        switch kind {
        case .image, .sticker: 5 << 20
        case .video, .audio, .voice: 16 << 20
        case .document: 100 << 20
        }
    }

    static func accepts(_ contentType: String, for kind: MediaKind) -> Bool {
        switch kind {
        case .image: ["image/jpeg", "image/png", "image/webp"].contains(contentType)
        case .video: ["video/mp4", "video/3gpp"].contains(contentType)
        case .audio, .voice:
            ["audio/ogg", "audio/mpeg", "audio/mp4", "audio/aac", "audio/amr", "audio/opus"].contains(contentType)
        case .document: !contentType.isEmpty
        // Turned into a WebP sticker when it is not one.
        case .sticker: ["image/webp", "image/png", "image/jpeg", "image/gif"].contains(contentType)
        }
    }

    /// Checks a link that WhatsApp will fetch itself (the Cloud API): an absolute http(s) URL that
    /// does not name a private, loopback or link-local address (Meta could not reach it). Nothing
    /// is downloaded, so the kind comes from the request, else from the file name's extension.
    func checkLink(_ text: String, kind: MediaKind?) throws -> MediaKind {
        // Host names are not resolved here: Meta resolves them, and Wharf connects nowhere.
        let url = try policy.url(
            in: text, field: "mediaUrl", resolvingHosts: false, refusal: "field 'mediaUrl' must be a public URL that WhatsApp can fetch")
        if let kind { return kind }
        switch url.pathExtension.lowercased() {
        case "jpg", "jpeg", "png", "webp": return .image
        case "mp4", "3gp", "3gpp": return .video
        case "ogg", "opus", "mp3", "m4a", "aac", "amr": return .audio
        default: return .document
        }
    }

    struct Fetched {
        var file: String
        var mimeType: String
    }

    /// Downloads `url` for a job into `DATA_DIR/media`.
    ///
    /// - Throws: ``ValidationError`` for a URL the policy refuses, ``MediaError`` for what came back.
    func fetch(_ text: String, kind: MediaKind, jobID: String) async throws -> Fetched {
        _ = try policy.url(in: text, field: "mediaUrl")
        let limit = Self.sizeLimit(kind)
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw MediaError.notStored
        }
        let file = (directory as NSString).appendingPathComponent(jobID)
        // Streamed to disk as it arrives; a failed or refused download leaves no file behind.
        var kept = false
        defer { if !kept { try? FileManager.default.removeItem(atPath: file) } }
        let result = await downloader.download(text, to: URL(fileURLWithPath: file), maximumBytes: limit, timeout: timeout)
        if result.isTooLarge { throw MediaError.tooLarge(kind) }
        if let error = result.error { throw MediaError.downloadFailed(error) }
        guard let status = result.status, (200..<300).contains(status) else { throw MediaError.httpStatus(result.status) }
        let mimeType = (result.contentType ?? "").split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
        guard Self.accepts(mimeType, for: kind) else { throw MediaError.unsupportedType(mimeType, kind) }
        kept = true
        return Fetched(file: file, mimeType: mimeType)
    }
}
