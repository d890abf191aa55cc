import Foundation
import Hummingbird
import Logging
import NIOCore

/// Turns every error into a problem+json response, so no caller ever sees an empty body or a
/// framework's own error text: a ``Problem`` as it is, a domain service's error through its
/// ``ProblemConvertible`` mapping; unexpected errors are logged and answered with a plain 500.
struct ProblemMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    )
        async throws -> Response
    {
        do {
            return try await next(request, context)
        } catch let error as HTTPError {
            let problem: Problem =
                switch error.status {
                case .notFound:
                    Problem(.notFound, detail: "no route for \(request.method) \(request.uri.path)")
                case .methodNotAllowed:
                    Problem(.methodNotAllowed, detail: "\(request.method) is not allowed on \(request.uri.path)")
                case .contentTooLarge:
                    Problem(.contentTooLarge, detail: error.body ?? "the request body is too large")
                default:
                    Problem(error.status, detail: error.body ?? error.status.reasonPhrase)
                }
            var response = try problem.response(from: request, context: context)
            for field in error.headers where response.headers[field.name] == nil {
                response.headers.append(field)
            }
            return response
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            if let problem = Problem.known(error) { return try problem.response(from: request, context: context) }
            context.logger.error(
                "request failed", metadata: ["path": "\(request.uri.path)", "error": "\(String(reflecting: error))"])
            return try Problem(.internalServerError, detail: "an unexpected error occurred; it has been logged")
                .response(from: request, context: context)
        }
    }
}

/// Collects the body once against the configured limit, answering 413 early from
/// `Content-Length` when it can, so no handler ever reads an unbounded body.
struct BodyLimitMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let configuredLimit: Int
    /// Larger limits for the routes under these path prefixes (a peer whose bodies Wharf must take).
    let largerLimits: [String: Int]

    /// The largest multipart body: the largest file (a document) and room for the form's fields.
    static let uploadLimit = MediaFetcher.sizeLimit(.document) + MultipartUpload.overhead

    /// The send routes, which take a file as `multipart/form-data` and stream it to disk.
    static func streamsUploads(_ path: String) -> Bool {
        let parts = path.split(separator: "/")
        guard parts.count == 4, parts[1] == "sessions" else { return false }
        return (parts[0] == "v1" && parts[3] == "messages") || (parts[0] == "api" && parts[3] == "send-media")
    }

    init(limit: Int, largerLimits: [String: Int] = [:]) {
        configuredLimit = limit
        self.largerLimits = largerLimits
    }

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    )
        async throws -> Response
    {
        let path = request.uri.path
        if Self.streamsUploads(path), MultipartUpload.boundary(of: request.headers[.contentType]) != nil {
            // A file upload is streamed to disk by its route, which enforces the file's limit as it
            // reads; only a declared length beyond any file Wharf takes is refused here. Every other
            // route's body is read whole, so it stays within the configured limit.
            if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > Self.uploadLimit {
                throw Problem.contentTooLarge(limit: Self.uploadLimit)
            }
            return try await next(request, context)
        }
        let limit = max(configuredLimit, largerLimits.first { path.hasPrefix($0.key) }?.value ?? 0)
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > limit {
            throw Problem.contentTooLarge(limit: limit)
        }
        var request = request
        if request.method == .post || request.method == .put || request.method == .patch {
            do {
                _ = try await request.collectBody(upTo: limit)
            } catch let error as HTTPError where error.status == .contentTooLarge {
                throw Problem.contentTooLarge(limit: limit)
            } catch is NIOTooManyBytesError {
                // A chunked body (no Content-Length) that went past the limit while it was read.
                throw Problem.contentTooLarge(limit: limit)
            }
        }
        return try await next(request, context)
    }
}

/// Logs one line per request: method, path (never the query, which may carry `?token=`), status
/// and duration.
struct RequestLogMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    )
        async throws -> Response
    {
        let start = ContinuousClock.now
        let response = try await next(request, context)
        let elapsed = ContinuousClock.now - start
        context.logger.debug(
            "\(request.method) \(request.uri.path) \(response.status.code)",
            metadata: ["ms": "\(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)"])
        return response
    }
}
