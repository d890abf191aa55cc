import Foundation

/// Sends one webhook request. The deliverer knows only this protocol; one implementation
/// (``CurlWebhookSender``) knows libcurl.
public protocol WebhookSender: Sendable {
    func send(_ request: WebhookRequest) async -> WebhookResponse
    /// Releases what the sender holds (threads, connections); called once deliveries have stopped.
    func shutdown()
}

/// A POST to a receiver.
public struct WebhookRequest: Sendable {
    public var url: String
    /// `(name, value)` pairs, sent as given.
    public var headers: [(String, String)]
    public var body: Data

    public init(url: String, headers: [(String, String)], body: Data) {
        self.url = url
        self.headers = headers
        self.body = body
    }
}

/// What came back: a status (when the receiver answered) or a transport error.
public struct WebhookResponse: Sendable, Equatable {
    public var status: Int?
    public var retryAfter: Duration?
    /// The start of the receiver's answer, for the attempt log.
    public var body: String
    public var error: String?
    public var duration: Duration

    public init(status: Int?, retryAfter: Duration? = nil, body: String = "", error: String? = nil, duration: Duration) {
        self.status = status
        self.retryAfter = retryAfter
        self.body = body
        self.error = error
        self.duration = duration
    }

    /// The outcome as the retry policy sees it.
    public var outcome: AttemptOutcome {
        if let status { return .http(status: status, retryAfter: retryAfter, body: body) }
        return .transport(error ?? "no response")
    }

    /// Parses a `Retry-After` value: delay-seconds, or an HTTP date relative to `now`.
    public static func parseRetryAfter(_ value: String, now: Date) -> Duration? {
        let trimmed = value.trimmingCharacters(in: .whitespaces)
        if let seconds = Int(trimmed), seconds >= 0 { return .seconds(seconds) }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: trimmed) else { return nil }
        return .seconds(max(0, Int(date.timeIntervalSince(now).rounded(.up))))
    }
}

/// Fetches media from a URL through the outbound-address policy, streamed into a file.
public protocol MediaDownloader: Sendable {
    /// Writes the answer's body to `file` (created 0600, replaced if it exists) as it arrives.
    func download(_ url: String, to file: URL, maximumBytes: Int, timeout: Duration) async -> DownloadResult
}

/// What a download came to.
public struct DownloadResult: Sendable, Equatable {
    public var status: Int?
    public var contentType: String?
    /// Bytes written to the file.
    public var size: Int
    public var error: String?
    public var isTooLarge: Bool

    public init(status: Int?, contentType: String?, size: Int, error: String?, isTooLarge: Bool) {
        self.status = status
        self.contentType = contentType
        self.size = size
        self.error = error
        self.isTooLarge = isTooLarge
    }
}
