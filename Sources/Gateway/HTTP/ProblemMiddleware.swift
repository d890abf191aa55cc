import Foundation
import Hummingbird
import Logging

/// Turns every error into a problem+json response, so no caller ever sees an empty body or a
/// framework's own error text; unexpected errors are logged and answered with a plain 500.
struct ProblemMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        do {
            return try await next(request, context)
        } catch let problem as Problem {
            return try problem.response(from: request, context: context)
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

    init(limit: Int) { configuredLimit = limit }

    /// Meta posts Cloud API notifications of up to about 3 MB and gives up on a number's events
    /// after days of refusals, so its route takes at least 4 MiB whatever `MAX_BODY_BYTES` says.
    static let cloudWebhookLimit = 4 << 20

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        let limit =
            request.uri.path.hasPrefix("/v1/cloud/webhook/") ? max(configuredLimit, Self.cloudWebhookLimit) : configuredLimit
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > limit {
            throw Problem.contentTooLarge(limit: limit)
        }
        var request = request
        if request.method == .post || request.method == .put || request.method == .patch {
            do {
                _ = try await request.collectBody(upTo: limit)
            } catch let error as HTTPError where error.status == .contentTooLarge {
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

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
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
