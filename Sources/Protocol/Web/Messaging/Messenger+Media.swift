import Foundation
import WharfCore

extension Messenger {
    /// How long the phone gets to upload a file again (whatsapp-rust waits as long).
    static let mediaRetryTimeout: Duration = .seconds(30)

    /// The media hosts and upload token, asked for again once they expire (or when `refresh`).
    func mediaConnection(on socket: NoiseSocket, refresh: Bool = false) async throws -> MediaConnection {
        if !refresh, let known = mediaHosts, known.expires > clock.now { return known }
        let answer = try await request(
            BinaryNode("iq", ["to": .jid(.server), "xmlns": "w:m", "type": "set"], children: [BinaryNode("media_conn")]), on: socket)
        guard let node = answer.child("media_conn"), let connection = MediaConnection(node, now: clock.now) else {
            throw EngineError.rejected("WhatsApp's media_conn answer names no hosts")
        }
        mediaHosts = connection
        return connection
    }

    /// Fetches a received file into `file`, decrypted and checked. An expired link (403, 404,
    /// 410) or a file that does not match its message makes the phone upload it again (a media
    /// retry), once; the new reference is returned then.
    ///
    /// Runs outside the actor: a long download or decryption must not hold up the stanzas
    /// behind it. Only asking for hosts and for the re-upload go through the actor.
    nonisolated func downloadMedia(
        _ reference: MediaReference, to file: URL, on socket: NoiseSocket
    ) async throws(MediaDownloadError)
        -> MediaReference?
    {
        guard let http else { throw MediaDownloadError("this engine was given no HTTP client for media", isRetryable: false) }
        var current = try WebMediaReference(reference)
        switch await fetch(current, into: file, http: http, on: socket) {
        case .fetched:
            return nil
        case .failed(let error):
            throw error
        case .gone(let why):
            logger.info("asking the phone to upload a file again", metadata: ["message": "\(current.messageID)", "why": "\(why)"])
            current.directPath = try await requestReupload(of: current, on: socket)
            current.url = nil
            switch await fetch(current, into: file, http: http, on: socket) {
            case .fetched: return current.reference
            case .failed(let error): throw error
            case .gone(let again): throw MediaDownloadError("\(why); after the phone uploaded it again: \(again)", isRetryable: false)
            }
        }
    }

    private enum Fetch {
        case fetched
        /// Expired or not the message's file: a re-upload may help.
        case gone(String)
        case failed(MediaDownloadError)
    }

    private nonisolated func fetch(_ reference: WebMediaReference, into file: URL, http: any HTTPTransport, on socket: NoiseSocket) async -> Fetch {
        var urls: [String] = reference.url.map { [$0] } ?? []
        do {
            urls += try await mediaConnection(on: socket).downloadURLs(directPath: reference.directPath)
        } catch {
            if urls.isEmpty { return .failed(MediaDownloadError("no media hosts: \(error)", isRetryable: true)) }
        }
        let encrypted = file.deletingLastPathComponent().appendingPathComponent(file.lastPathComponent + ".enc")
        defer { try? FileManager.default.removeItem(at: encrypted) }
        // The ciphertext is at most one block and the MAC longer than the file the message declares.
        let limit = reference.fileLength.map { Int(clamping: $0) + 16 + MediaCipher.macLength } ?? mediaDownloadLimit
        var last = "no media host answered"
        for url in urls {
            let response = await http.perform(
                HTTPTransportRequest(
                    method: .get, url: url, headers: [("Origin", WebEngineConfiguration().origin), ("User-Agent", "Wharf/1.0")],
                    responseFile: encrypted, maximumResponseBytes: limit, timeout: mediaDownloadTimeout))
            guard let status = response.status else {
                last = response.error ?? "no answer"
                continue
            }
            switch status {
            case 200..<300:
                do {
                    _ = try MediaCipher.decrypt(
                        encrypted, to: file, mediaKey: Array(reference.mediaKey), type: reference.type,
                        fileEncSHA256: reference.fileEncSHA256.map(Array.init), fileSHA256: reference.fileSHA256.map(Array.init))
                    return .fetched
                } catch .corrupt(let why) {
                    return .gone(why)
                } catch {
                    return .failed(MediaDownloadError("the file could not be stored: \(error)", isRetryable: true))
                }
            case 403, 404, 410:
                return .gone("the media host answered \(status): the link has expired")
            default:
                last = "the media host answered \(status)"
            }
        }
        return .failed(MediaDownloadError(last, isRetryable: true))
    }

    /// Sends the media retry receipt and waits for the phone's answer: the file's new direct path.
    private func requestReupload(of reference: WebMediaReference, on socket: NoiseSocket) async throws(MediaDownloadError) -> String {
        let receipt: BinaryNode
        do {
            receipt = try MediaRetry.receipt(for: reference, ownAccount: account.jid.account)
        } catch {
            throw MediaDownloadError("the media retry request could not be sealed: \(error)", isRetryable: false)
        }
        let answer = OneShot<BinaryNode?>()
        mediaRetries[reference.messageID] = answer
        let timer = Task { [clock] in
            try? await clock.sleep(for: Self.mediaRetryTimeout)
            answer.resolve(nil)
        }
        defer {
            timer.cancel()
            mediaRetries[reference.messageID] = nil
        }
        await send(receipt, on: socket)
        guard let notification = await answer.wait() else {
            throw MediaDownloadError("the phone did not answer the media retry within \(Self.mediaRetryTimeout)", isRetryable: true)
        }
        return try MediaRetry.directPath(from: notification, for: reference)
    }

    /// `<notification type="mediaretry">`: the answer to a media retry we are waiting for.
    func receivedMediaRetry(_ notification: BinaryNode) {
        guard let id = notification.string("id"), let waiting = mediaRetries[id] else {
            logger.debug("a media retry answer nobody waits for", metadata: ["id": "\(notification.string("id") ?? "")"])
            return
        }
        waiting.resolve(notification)
    }
}
