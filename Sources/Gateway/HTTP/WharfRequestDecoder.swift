import Foundation
import Hummingbird

/// Reads a JSON request body with Wharf's decoder (``JSONDecoder/wharf``), the context's
/// ``AppRequestContext/requestDecoder``: an empty body or a wrong field becomes a problem that
/// says which field and how.
public struct WharfRequestDecoder: RequestDecoder {
    public init() {}

    public func decode<T: Decodable>(_ type: T.Type, from request: Request, context: some RequestContext) async throws -> T {
        var request = request
        let buffer = try await request.collectBody(upTo: .max)
        guard buffer.readableBytes > 0 else {
            throw Problem.badRequest("the request body is empty; send a JSON object")
        }
        do {
            return try JSONDecoder.wharf.decode(T.self, from: Data(buffer.readableBytesView))
        } catch let error as DecodingError {
            throw Problem.describing(error)
        }
    }
}
