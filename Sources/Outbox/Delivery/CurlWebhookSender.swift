import CCurl
import Foundation
import Synchronization
import WharfCore

#if canImport(Glibc)
import Glibc
#endif

/// The one place that knows libcurl: a multi handle driven by a dedicated thread, so thousands of
/// webhook POSTs share connections and a handful of threads.
///
/// Requests are queued from any task and picked up after `curl_multi_wakeup`; each finished
/// transfer resumes its caller. Redirects are not followed, only http and https are spoken, and a
/// connection to an address the ``OutboundPolicy`` refuses is never opened (checked on the
/// resolved address, so DNS tricks do not get around it).
public final class CurlWebhookSender: WebhookSender, MediaDownloader, HTTPTransport, @unchecked Sendable {
    public struct Options: Sendable {
        public var connectTimeout: Duration = .seconds(5)
        public var totalTimeout: Duration = .seconds(15)
        public var maximumResponseBytes = 4096
        /// Connections kept per host; the deliverer enforces the per-endpoint cap itself.
        public var maximumHostConnections = 64
        public var policy: OutboundPolicy = .strict
        /// A PEM bundle of roots trusted besides the system's (`WA_CA_FILE`): a local media host in
        /// tests, or an operator's intercepting proxy. Certificates are verified either way.
        public var extraRootsFile: String?
        public init() {}
    }

    /// Per-transfer state that libcurl's callbacks write into.
    fileprivate final class Transfer: @unchecked Sendable {
        /// What libcurl reported, handed to the waiting caller.
        struct Outcome {
            var status: Int?
            var retryAfter: String?
            var contentType: String?
            var body: Data
            /// Body bytes received, in memory or in the file.
            var size = 0
            var error: String?
            var isTooLarge: Bool
            var duration: Duration
            /// No connection was made (name not resolved, refused, or refused by the policy).
            var neverConnected = false
        }

        let url: String
        /// A proxy URL in libcurl's form; the address policy then applies to the proxy, which is
        /// the only host this machine connects to.
        let proxy: String?
        let headers: [(String, String)]
        /// `nil` for a GET.
        let postBody: Data?
        let policy: OutboundPolicy
        let maximumBytes: Int
        /// Downloads fail past `maximumBytes`; webhook answers are just cut for the log.
        let failsWhenTooLarge: Bool
        let timeout: Duration
        /// Where the body goes instead of `body` (a download), and where a POST's body comes from.
        let sink: FileHandle?
        let source: (handle: FileHandle, size: Int)?
        var completion: (Outcome) -> Void
        var body = Data()
        var received = 0
        var sinkFailed = false
        /// Set when the caller's task is cancelled: a file transfer then stops at curl's next
        /// progress call (about once a second even when no data flows).
        let cancelled = Atomic<Bool>(false)
        var retryAfter: String?
        var contentType: String?
        var isTooLarge = false
        var refusedAddress: String?
        var headerList: UnsafeMutablePointer<curl_slist>?
        var handle: UnsafeMutableRawPointer?
        let started = ContinuousClock.now

        init(
            url: String, headers: [(String, String)], postBody: Data?, policy: OutboundPolicy, maximumBytes: Int,
            failsWhenTooLarge: Bool, timeout: Duration, sink: FileHandle? = nil, source: (handle: FileHandle, size: Int)? = nil,
            proxy: String? = nil, completion: @escaping (Outcome) -> Void = { _ in }
        ) {
            self.proxy = proxy
            self.sink = sink
            self.source = source
            self.url = url
            self.headers = headers
            self.postBody = postBody
            self.policy = policy
            self.maximumBytes = maximumBytes
            self.failsWhenTooLarge = failsWhenTooLarge
            self.timeout = timeout
            self.completion = completion
        }
    }

    private let options: Options
    private let multi: UnsafeMutableRawPointer
    private let incoming = Mutex<[Transfer]>([])
    private let isStopping = Atomic<Bool>(false)
    private let stopped = DispatchSemaphore(value: 0)
    /// The system's roots and the extra ones, handed to every handle (libcurl does not copy it).
    private let rootsBundle: UnsafeMutableRawBufferPointer?

    private static let globalInit: Int32 = {
        signal(SIGPIPE, SIG_IGN)
        return Int32(curl_global_init(Int(CURL_GLOBAL_ALL)).rawValue)
    }()

    public init(options: Options = .init()) {
        _ = Self.globalInit
        self.options = options
        rootsBundle = options.extraRootsFile.flatMap(Self.rootsBundle(adding:))
        multi = curl_multi_init()
        _ = wharf_multi_setopt_long(multi, CURLMOPT_MAX_HOST_CONNECTIONS, options.maximumHostConnections)
        let thread = Thread { [self] in runLoop() }
        thread.name = "wharf-curl"
        thread.start()
    }

    deinit { rootsBundle?.deallocate() }

    /// The system's trusted roots (libcurl's default bundle) followed by the PEM file's.
    private static func rootsBundle(adding file: String) -> UnsafeMutableRawBufferPointer? {
        guard let extra = FileManager.default.contents(atPath: file) else { return nil }
        var systemPath = "/etc/ssl/certs/ca-certificates.crt"
        if let handle = curl_easy_init() {
            var pointer: UnsafeMutableRawPointer?
            if wharf_easy_getinfo_pointer(handle, CURLINFO_CAINFO, &pointer) == CURLE_OK, let pointer {
                systemPath = String(cString: pointer.assumingMemoryBound(to: CChar.self))
            }
            curl_easy_cleanup(handle)
        }
        let bundle = (FileManager.default.contents(atPath: systemPath) ?? Data()) + Data("\n".utf8) + extra
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: bundle.count, alignment: 1)
        buffer.copyBytes(from: bundle)
        return buffer
    }

    /// Stops the driving thread; transfers still running complete with an error.
    public func shutdown() {
        guard !isStopping.exchange(true, ordering: .acquiringAndReleasing) else { return }
        curl_multi_wakeup(multi)
        stopped.wait()
    }

    public func send(_ request: WebhookRequest) async -> WebhookResponse {
        await withCheckedContinuation { continuation in
            submit(
                Transfer(
                    url: request.url, headers: request.headers, postBody: request.body, policy: options.policy,
                    maximumBytes: options.maximumResponseBytes, failsWhenTooLarge: false, timeout: options.totalTimeout
                ) { outcome in
                    continuation.resume(
                        returning: WebhookResponse(
                            status: outcome.status, retryAfter: outcome.retryAfter.flatMap { WebhookResponse.parseRetryAfter($0, now: Date()) },
                            body: String(decoding: outcome.body, as: UTF8.self), error: outcome.error, duration: outcome.duration))
                })
        }
    }

    /// Downloads `url` (GET) into `file` through the same guard, failing past `maximumBytes` or `timeout`.
    public func download(_ url: String, to file: URL, maximumBytes: Int, timeout: Duration) async -> DownloadResult {
        let response = await perform(
            HTTPTransportRequest(
                method: .get, url: url, headers: [("User-Agent", "Wharf/1.0")], responseFile: file, maximumResponseBytes: maximumBytes,
                timeout: timeout))
        return DownloadResult(
            status: response.status, contentType: response.contentType, size: response.size, error: response.error,
            isTooLarge: response.error?.hasPrefix("larger than") == true)
    }

    /// Any GET or POST through the same guard and the same connections (the Cloud API's Graph calls).
    ///
    /// A `bodyFile` is streamed up and a `responseFile` streamed down, so no file passes through memory.
    public func perform(_ request: HTTPTransportRequest) async -> HTTPTransportResponse {
        var sink: FileHandle?
        var source: (handle: FileHandle, size: Int)?
        do {
            if let file = request.responseFile { sink = try PrivateFile.create(file) }
            if let file = request.bodyFile {
                let size = try FileManager.default.attributesOfItem(atPath: file.path)[.size] as? Int ?? 0
                source = (try FileHandle(forReadingFrom: file), size)
            }
        } catch {
            return HTTPTransportResponse(status: nil, error: "local file: \(error)", mayHaveBeenReceived: false)
        }
        defer {
            try? sink?.close()
            try? source?.handle.close()
        }
        let transfer = Transfer(
            url: request.url, headers: request.headers,
            postBody: request.method == .post && source == nil ? (request.body ?? Data()) : nil, policy: options.policy,
            maximumBytes: request.maximumResponseBytes, failsWhenTooLarge: sink != nil, timeout: request.timeout, sink: sink,
            source: source, proxy: request.proxy?.curlURL)
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                transfer.completion = { outcome in
                    continuation.resume(
                        returning: HTTPTransportResponse(
                            status: outcome.status, body: outcome.body, size: outcome.size, contentType: outcome.contentType,
                            retryAfter: outcome.retryAfter.flatMap { WebhookResponse.parseRetryAfter($0, now: Date()) },
                            error: outcome.error, mayHaveBeenReceived: !outcome.neverConnected))
                }
                submit(transfer)
            }
        } onCancel: {
            transfer.cancelled.store(true, ordering: .relaxed)
        }
    }

    private func submit(_ transfer: Transfer) {
        if isStopping.load(ordering: .acquiring) {
            transfer.completion(
                .init(body: Data(), error: "the HTTP client has stopped", isTooLarge: false, duration: .zero))
            return
        }
        incoming.withLock { $0.append(transfer) }
        curl_multi_wakeup(multi)
    }

    // MARK: The driving thread

    private func runLoop() {
        var active: [UnsafeMutableRawPointer: Transfer] = [:]
        while !isStopping.load(ordering: .acquiring) {
            for transfer in incoming.withLock({ queue -> [Transfer] in
                defer { queue.removeAll() }
                return queue
            }) {
                guard let handle = start(transfer) else { continue }
                active[handle] = transfer
            }
            var running: Int32 = 0
            curl_multi_perform(multi, &running)
            var remaining: Int32 = 0
            while let message = curl_multi_info_read(multi, &remaining) {
                guard message.pointee.msg == CURLMSG_DONE, let handle = message.pointee.easy_handle,
                    let transfer = active.removeValue(forKey: handle)
                else { continue }
                finish(transfer, code: message.pointee.data.result)
            }
            curl_multi_poll(multi, nil, 0, 1000, nil)
        }
        for transfer in active.values + incoming.withLock({ $0 }) {
            finish(transfer, code: CURLE_ABORTED_BY_CALLBACK)
        }
        curl_multi_cleanup(multi)
        stopped.signal()
    }

    private func start(_ transfer: Transfer) -> UnsafeMutableRawPointer? {
        guard let handle = curl_easy_init() else {
            transfer.completion(.init(body: Data(), error: "could not create a curl handle", isTooLarge: false, duration: .zero))
            return nil
        }
        transfer.handle = handle
        let context = Unmanaged.passUnretained(transfer).toOpaque()
        _ = wharf_easy_setopt_string(handle, CURLOPT_URL, transfer.url)
        if let proxy = transfer.proxy { _ = wharf_easy_setopt_string(handle, CURLOPT_PROXY, proxy) }
        if let source = transfer.source {
            _ = wharf_easy_setopt_long(handle, CURLOPT_POST, 1)
            _ = wharf_easy_setopt_off(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(source.size))
            _ = wharf_easy_setopt_read_callback(handle) { buffer, size, count, context in
                guard let buffer, let context else { return 0 }
                let transfer = Unmanaged<Transfer>.fromOpaque(context).takeUnretainedValue()
                guard let handle = transfer.source?.handle, let data = try? handle.read(upToCount: size * count) else {
                    return Int(CURL_READFUNC_ABORT)
                }
                data.copyBytes(to: UnsafeMutableRawPointer(buffer).assumingMemoryBound(to: UInt8.self), count: data.count)
                return data.count
            }
            _ = wharf_easy_setopt_pointer(handle, CURLOPT_READDATA, context)
        } else if let body = transfer.postBody {
            _ = wharf_easy_setopt_long(handle, CURLOPT_POST, 1)
            _ = wharf_easy_setopt_long(handle, CURLOPT_POSTFIELDSIZE, body.count)
            body.withUnsafeBytes { bytes in
                _ = wharf_easy_setopt_pointer(handle, CURLOPT_COPYPOSTFIELDS, UnsafeMutableRawPointer(mutating: bytes.baseAddress))
            }
        } else {
            _ = wharf_easy_setopt_long(handle, CURLOPT_HTTPGET, 1)
        }
        if transfer.failsWhenTooLarge { _ = wharf_easy_setopt_long(handle, CURLOPT_MAXFILESIZE, transfer.maximumBytes) }
        if let rootsBundle { _ = wharf_easy_setopt_ca_blob(handle, rootsBundle.baseAddress, rootsBundle.count) }
        if transfer.sink != nil || transfer.source != nil {
            _ = wharf_easy_setopt_long(handle, CURLOPT_NOPROGRESS, 0)
            _ = wharf_easy_setopt_progress_callback(handle) { context, _, _, _, _ in
                guard let context else { return 0 }
                return Unmanaged<Transfer>.fromOpaque(context).takeUnretainedValue().cancelled.load(ordering: .relaxed) ? 1 : 0
            }
            _ = wharf_easy_setopt_pointer(handle, CURLOPT_XFERINFODATA, context)
        }
        _ = wharf_easy_setopt_long(handle, CURLOPT_NOSIGNAL, 1)
        _ = wharf_easy_setopt_long(handle, CURLOPT_FOLLOWLOCATION, 0)
        _ = wharf_easy_setopt_string(handle, CURLOPT_PROTOCOLS_STR, "http,https")
        _ = wharf_easy_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, Int(options.connectTimeout.milliseconds))
        _ = wharf_easy_setopt_long(handle, CURLOPT_TIMEOUT_MS, Int(transfer.timeout.milliseconds))
        var headers: UnsafeMutablePointer<curl_slist>?
        for (name, value) in transfer.headers {
            headers = curl_slist_append(headers, "\(name): \(value)")
        }
        headers = curl_slist_append(headers, "Expect:")
        transfer.headerList = headers
        _ = wharf_easy_setopt_slist(handle, CURLOPT_HTTPHEADER, headers)
        _ = wharf_easy_setopt_write_callback(handle) { pointer, size, count, context in
            let length = size * count
            guard let pointer, let context else { return length }
            let transfer = Unmanaged<Transfer>.fromOpaque(context).takeUnretainedValue()
            if let sink = transfer.sink {
                // Streamed to the file; the size limit is checked on what was written.
                guard transfer.received + length <= transfer.maximumBytes else {
                    transfer.isTooLarge = true
                    return 0
                }
                do {
                    try sink.write(contentsOf: Data(bytesNoCopy: pointer, count: length, deallocator: .none))
                } catch {
                    transfer.sinkFailed = true
                    return 0
                }
                transfer.received += length
                return length
            }
            let room = transfer.maximumBytes - transfer.body.count
            if length > room {
                transfer.isTooLarge = true
                if transfer.failsWhenTooLarge { return 0 }  // aborts the transfer
            }
            if room > 0 {
                transfer.body.append(UnsafeRawPointer(pointer).assumingMemoryBound(to: UInt8.self), count: min(room, length))
            }
            return length
        }
        _ = wharf_easy_setopt_pointer(handle, CURLOPT_WRITEDATA, context)
        _ = wharf_easy_setopt_header_callback(handle) { pointer, size, count, context in
            let length = size * count
            guard let pointer, let context else { return length }
            let transfer = Unmanaged<Transfer>.fromOpaque(context).takeUnretainedValue()
            let line = String(
                decoding: UnsafeRawBufferPointer(start: pointer, count: length), as: UTF8.self)
            let lowered = line.lowercased()
            if lowered.hasPrefix("retry-after:") {
                transfer.retryAfter = String(line.dropFirst("retry-after:".count)).trimmingCharacters(in: .whitespacesAndNewlines)
            } else if lowered.hasPrefix("content-type:") {
                transfer.contentType = String(line.dropFirst("content-type:".count)).trimmingCharacters(in: .whitespacesAndNewlines)
            }
            return length
        }
        _ = wharf_easy_setopt_pointer(handle, CURLOPT_HEADERDATA, context)
        _ = wharf_easy_setopt_opensocket_callback(handle) { context, purpose, address in
            guard let context, let address else { return CURL_SOCKET_BAD }
            let transfer = Unmanaged<Transfer>.fromOpaque(context).takeUnretainedValue()
            let family = address.pointee.family
            let ip = withUnsafeMutablePointer(to: &address.pointee.addr) { IPAddress(sockaddr: $0) }
            if let ip, !transfer.policy.permits(ip, connectingTo: transfer.proxy ?? transfer.url) {
                transfer.refusedAddress = ip.description
                return CURL_SOCKET_BAD
            }
            return socket(family, address.pointee.socktype, address.pointee.protocol)
        }
        _ = wharf_easy_setopt_pointer(handle, CURLOPT_OPENSOCKETDATA, context)
        curl_multi_add_handle(multi, handle)
        return handle
    }

    private func finish(_ transfer: Transfer, code: CURLcode) {
        let duration = ContinuousClock.now - transfer.started
        var status: Int?
        var error: String?
        if let handle = transfer.handle {
            var responseCode = 0
            _ = wharf_easy_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &responseCode)
            if code == CURLE_OK, responseCode > 0 { status = responseCode }
            if code == CURLE_FILESIZE_EXCEEDED { transfer.isTooLarge = true }
            curl_multi_remove_handle(multi, handle)
            curl_easy_cleanup(handle)
        }
        curl_slist_free_all(transfer.headerList)
        if status == nil {
            if let refused = transfer.refusedAddress {
                error = "refused to connect to \(refused): a private, loopback or link-local address not in \(OutboundPolicy.settingName)"
            } else if transfer.cancelled.load(ordering: .relaxed) {
                error = "cancelled"
            } else if transfer.sinkFailed {
                error = "the answer could not be written to its file"
            } else if transfer.isTooLarge && transfer.failsWhenTooLarge {
                error = "larger than the limit of \(transfer.maximumBytes) bytes"
            } else if code == CURLE_OPERATION_TIMEDOUT {
                error = "timed out after \(duration.milliseconds) ms"
            } else {
                error = "curl error \(code.rawValue): \(String(cString: curl_easy_strerror(code)))"
            }
        }
        let neverConnected = [CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY, CURLE_COULDNT_CONNECT].contains(code)
        transfer.completion(
            .init(
                status: status, retryAfter: transfer.retryAfter, contentType: transfer.contentType, body: transfer.body,
                size: transfer.sink == nil ? transfer.body.count : transfer.received, error: error, isTooLarge: transfer.isTooLarge,
                duration: duration, neverConnected: neverConnected))
    }
}
