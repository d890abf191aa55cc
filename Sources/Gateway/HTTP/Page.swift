import Hummingbird

/// A page of a list, with the cursor of the next page when there may be one.
struct Page<Item: Encodable>: ResponseEncodable {
    var items: [Item]
    var nextCursor: String?
}

/// The `limit` and `cursor` query parameters of the list routes.
enum Pagination {
    static func limit(_ request: Request) throws -> Int {
        guard let text = request.uri.queryParameters.get("limit") else { return 100 }
        guard let value = Int(text), (1...500).contains(value) else {
            throw Problem.badRequest("query parameter 'limit' must be a whole number from 1 to 500", field: "limit")
        }
        return value
    }

    static func cursor(_ request: Request) throws -> PageCursor? {
        guard let text = request.uri.queryParameters.get("cursor"), !text.isEmpty else { return nil }
        guard let cursor = PageCursor(token: text) else {
            throw Problem.badRequest("query parameter 'cursor' is not a cursor this server handed out", field: "cursor")
        }
        return cursor
    }
}
