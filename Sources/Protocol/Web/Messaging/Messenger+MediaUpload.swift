import Foundation
import WharfCore

extension Messenger {
    /// The Message for a file to send: measured (size, duration, thumbnail), encrypted with a new
    /// media key into a file beside it, uploaded to a media host streamed from disk, and described
    /// with everything the recipient's app needs to show and fetch it.
    ///
    /// Runs outside the actor, like downloads: only asking for the hosts goes through it.
    nonisolated func makeMediaMessage(
        kind: MediaKind, file: URL, mimeType: String, caption: String?, fileName: String?, context: WAContextInfo?, on socket: NoiseSocket
    ) async throws -> WAMessage {
        guard let http else { throw EngineError.unsupported("media without an HTTP client") }
        var source = file
        var message = WAMessage()
        let scratch = file.deletingLastPathComponent()
        let sticker = scratch.appendingPathComponent(file.lastPathComponent + ".webp")
        defer { try? FileManager.default.removeItem(at: sticker) }
        let type: WAMediaType
        var describe: (inout WAMessage, Upload) -> Void
        do throws(MediaProbeError) {
            switch kind {
            case .image:
                type = .image
                let image = try MediaProbe.image(at: file)
                describe = { message, upload in
                    var part = WAImageMessage()
                    upload.fill(&part)
                    part.mimetype = mimeType
                    part.width = UInt32(image.width)
                    part.height = UInt32(image.height)
                    if let thumbnail = image.thumbnail { part.jpegThumbnail = thumbnail }
                    if let caption { part.caption = caption }
                    if let context { part.contextInfo = context }
                    message.imageMessage = part
                }
            case .sticker:
                type = .sticker
                let image = try MediaProbe.sticker(from: file, to: sticker)
                source = sticker
                describe = { message, upload in
                    var part = WAStickerMessage()
                    upload.fill(&part)
                    part.mimetype = "image/webp"
                    part.width = UInt32(image.width)
                    part.height = UInt32(image.height)
                    part.isAnimated = image.isAnimated
                    if let context { part.contextInfo = context }
                    message.stickerMessage = part
                }
            case .voice, .audio:
                let isVoice = kind == .voice
                type = isVoice ? .ptt : .audio
                let seconds = isVoice ? try MediaProbe.voiceNote(at: file).seconds : MediaProbe.timed(at: file, thumbnail: false).seconds
                describe = { message, upload in
                    var part = WAAudioMessage()
                    upload.fill(&part)
                    // WhatsApp's apps play a voice note only under this exact type.
                    part.mimetype = isVoice ? "audio/ogg; codecs=opus" : mimeType
                    part.ptt = isVoice
                    part.seconds = UInt32(seconds)
                    if let context { part.contextInfo = context }
                    message.audioMessage = part
                }
            case .video:
                type = .video
                let video = MediaProbe.timed(at: file, thumbnail: true)
                describe = { message, upload in
                    var part = WAVideoMessage()
                    upload.fill(&part)
                    part.mimetype = mimeType
                    part.seconds = UInt32(video.seconds)
                    if let width = video.width, let height = video.height {
                        part.width = UInt32(width)
                        part.height = UInt32(height)
                    }
                    if let thumbnail = video.thumbnail { part.jpegThumbnail = thumbnail }
                    if let caption { part.caption = caption }
                    if let context { part.contextInfo = context }
                    message.videoMessage = part
                }
            case .document:
                type = .document
                let name = fileName ?? file.lastPathComponent
                describe = { message, upload in
                    var part = WADocumentMessage()
                    upload.fill(&part)
                    part.mimetype = mimeType.isEmpty ? "application/octet-stream" : mimeType
                    part.fileName = name
                    part.title = name
                    if let caption { part.caption = caption }
                    if let context { part.contextInfo = context }
                    message.documentMessage = part
                }
            }
        } catch {
            throw EngineError.invalidRequest(error.description)
        }
        let upload = try await self.upload(source, type: type, http: http, on: socket)
        describe(&message, upload)
        return message
    }

    /// What an upload gives the message.
    struct Upload: Sendable {
        var url: String
        var directPath: String
        var mediaKey: [UInt8]
        var sums: MediaCipher.Encrypted
        var timestamp: Int64

        /// Where the file is, its key and hashes: the fields every media message shares.
        func fill(_ part: inout some UploadedMedia) {
            part.url = url
            part.directPath = directPath
            part.mediaKey = Data(mediaKey)
            part.fileSha256 = Data(sums.fileSHA256)
            part.fileEncSha256 = Data(sums.fileEncSHA256)
            part.fileLength = sums.fileLength
            part.mediaKeyTimestamp = timestamp
        }
    }

    /// Encrypts `file` and posts it to the media hosts in turn (asking for fresh hosts once when
    /// the upload token was refused).
    private nonisolated func upload(_ file: URL, type: WAMediaType, http: any HTTPTransport, on socket: NoiseSocket) async throws -> Upload {
        let mediaKey = MediaKeys.newMediaKey()
        let encrypted = file.deletingLastPathComponent().appendingPathComponent(file.lastPathComponent + ".enc")
        defer { try? FileManager.default.removeItem(at: encrypted) }
        let sums: MediaCipher.Encrypted
        do {
            sums = try MediaCipher.encrypt(file, to: encrypted, mediaKey: mediaKey, type: type)
        } catch {
            throw EngineError.invalidRequest("the file could not be read for sending: \(error)")
        }
        // The upload token: the encrypted file's SHA-256, base64url without padding.
        let token = Data(sums.fileEncSHA256).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        var last = "no media host"
        for refresh in [false, true] {
            let connection = try await mediaConnection(on: socket, refresh: refresh)
            let auth = connection.auth.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? connection.auth
            for host in connection.hosts {
                let response = await http.perform(
                    HTTPTransportRequest(
                        method: .post, url: "https://\(host)\(type.uploadPath)/\(token)?auth=\(auth)&token=\(token)",
                        headers: [("Origin", WebEngineConfiguration().origin), ("Content-Type", "application/octet-stream")],
                        bodyFile: encrypted, maximumResponseBytes: 64 << 10, timeout: mediaDownloadTimeout))
                guard let status = response.status else {
                    last = response.error ?? "no answer"
                    continue
                }
                guard (200..<300).contains(status) else {
                    last = "the media host answered \(status)"
                    if status == 401 || status == 403 { break }
                    continue
                }
                guard let answer = try? JSONSerialization.jsonObject(with: response.body) as? [String: Any],
                    let directPath = answer["direct_path"] as? String, !directPath.isEmpty
                else {
                    last = "the media host's answer names no direct_path"
                    continue
                }
                let url = answer["url"] as? String ?? "https://\(host)\(directPath)"
                return Upload(
                    url: url, directPath: directPath, mediaKey: mediaKey, sums: sums, timestamp: Int64(clock.now.timeIntervalSince1970))
            }
        }
        throw EngineError.temporary("the file could not be uploaded to WhatsApp: \(last)")
    }

}

/// The fields the protobuf types of media messages share (with the same names and types).
protocol UploadedMedia {
    var url: String { get set }
    var directPath: String { get set }
    var mediaKey: Data { get set }
    var fileSha256: Data { get set }
    var fileEncSha256: Data { get set }
    var fileLength: UInt64 { get set }
    var mediaKeyTimestamp: Int64 { get set }
}

extension WAImageMessage: UploadedMedia {}
extension WAVideoMessage: UploadedMedia {}
extension WAAudioMessage: UploadedMedia {}
extension WADocumentMessage: UploadedMedia {}
extension WAStickerMessage: UploadedMedia {}
