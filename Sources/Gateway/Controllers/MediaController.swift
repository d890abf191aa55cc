import Foundation
import Hummingbird
import WharfCore

/// `GET /v1/media/:mediaId`: a received file, to the tenant's credentials or to a signed link
/// (`?expires=…&sig=…`, what webhooks carry), streamed from disk with `Range` support. A file
/// not fetched yet is fetched first (a lazy tenant's, or an eager one still under way).
struct MediaController {
    let services: GatewayServices
    let media: MediaService
    let links: MediaLinks
    /// How long a request waits for a file still being fetched.
    var fetchWait: Duration = .seconds(120)

    func addRoutes(to group: RouterGroup<AppRequestContext>) {
        group.get("media/:mediaId", use: get)
    }

    @Sendable func get(_ request: Request, context: AppRequestContext) async throws -> Response {
        let id = try context.parameters.require("mediaId")
        var record = try await authorized(id, request: request, context: context)
        if record.status == .pending {
            record = try await media.fetchNow(id, timeout: fetchWait) ?? record
        }
        switch record.status {
        case .ready:
            break
        case .pending:
            throw Problem(
                .serviceUnavailable, detail: "the file is still being fetched from WhatsApp: \(record.error ?? "try again shortly")",
                headers: [.retryAfter: "30"])
        case .failed:
            throw Problem(.badGateway, detail: "the file could not be fetched from WhatsApp: \(record.error ?? "unknown error")")
        case .expired:
            throw Problem(.gone, detail: "the file was deleted after its retention period")
        }
        let path = media.path(of: id).path
        guard let size = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int else {
            throw Problem(.gone, detail: "the file is no longer on disk")
        }
        var headers: HTTPFields = [
            .contentType: record.mimeType.isEmpty ? "application/octet-stream" : record.mimeType, .acceptRanges: "bytes",
            .cacheControl: "private, max-age=3600",
        ]
        if let sha256 = record.sha256 { headers[.eTag] = "\"\(sha256)\"" }
        if let name = record.fileName {
            let safe = name.filter { $0 != "\"" && $0 != "\\" && !$0.isNewline }
            headers[.contentDisposition] = "inline; filename=\"\(safe)\""
        }
        let fileIO = FileIO()
        guard let rangeHeader = request.headers[.range] else {
            headers[.contentLength] = String(size)
            return Response(status: .ok, headers: headers, body: try await fileIO.loadFile(path: path, context: context))
        }
        guard let range = Self.byteRange(rangeHeader, size: size) else {
            throw Problem(
                .rangeNotSatisfiable, detail: "the range '\(rangeHeader)' is not within the file's \(size) bytes",
                headers: [.contentRange: "bytes */\(size)"])
        }
        headers[.contentRange] = "bytes \(range.lowerBound)-\(range.upperBound)/\(size)"
        headers[.contentLength] = String(range.count)
        return Response(status: .partialContent, headers: headers, body: try await fileIO.loadFile(path: path, range: range, context: context))
    }

    /// The row, if the caller may have it: a valid signed link, or the owning tenant's credentials
    /// (the administrator's too). Another tenant's id is 404, as an unknown one.
    private func authorized(_ id: String, request: Request, context: AppRequestContext) async throws -> MediaRecord {
        let query = request.uri.queryParameters
        if query["sig"] != nil || query["expires"] != nil {
            switch links.verify(id, expires: query["expires"].map(String.init), signature: query["sig"].map(String.init), now: services.clock.now) {
            case .valid:
                guard let record = try await services.store.media(id: id) else { throw Problem.notFound("media '\(id)'") }
                return record
            case .expired:
                throw Problem(.forbidden, detail: "the link has expired; fetch the file with the tenant's credentials")
            case .invalid:
                throw Problem(.forbidden, detail: "the link's signature does not match this file")
            }
        }
        switch try context.requireIdentity() {
        case .admin:
            guard let record = try await services.store.media(id: id) else { throw Problem.notFound("media '\(id)'") }
            return record
        case .tenant(let tenantID, _):
            guard let record = try await services.store.media(id: id, tenantID: tenantID) else { throw Problem.notFound("media '\(id)'") }
            return record
        }
    }

    /// One `bytes=` range within `size` bytes (`a-b`, `a-`, `-n`); `nil` when it is not satisfiable.
    /// Several ranges are answered with the first, which RFC 9110 allows.
    static func byteRange(_ header: String, size: Int) -> ClosedRange<Int>? {
        guard header.hasPrefix("bytes="), size > 0 else { return nil }
        let first = header.dropFirst("bytes=".count).split(separator: ",").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        let parts = first.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 2 else { return nil }
        if parts[0].isEmpty {
            guard let suffix = Int(parts[1]), suffix > 0 else { return nil }
            return max(0, size - suffix)...(size - 1)
        }
        guard let start = Int(parts[0]), start >= 0, start < size else { return nil }
        if parts[1].isEmpty { return start...(size - 1) }
        guard let end = Int(parts[1]), end >= start else { return nil }
        return start...min(end, size - 1)
    }
}
