import Foundation
import Testing
import WharfCore

@testable import Gateway

/// The served OpenAPI document and the router describe the same routes.
@Suite struct OpenAPITests {
    @Test func everyRouteIsDocumentedAndEveryDocumentedRouteExists() async throws {
        try await TestWharf.run { app in
            let reply = try await app.call(.get, "/openapi.json")
            #expect(reply.status == .ok)
            let paths = reply["paths"]?.objectValue ?? [:]
            var documented: Set<String> = []
            for (path, item) in paths {
                for method in (item.objectValue ?? [:]).keys where ["get", "put", "post", "delete", "patch"].contains(method) {
                    documented.insert("\(method.uppercased()) \(path)")
                }
            }
            // Hummingbird writes parameters as `:name`, OpenAPI as `{name}`.
            let served = Set(app.wharf.routes.map { route in
                route.split(separator: "/", omittingEmptySubsequences: false).map { part in
                    part.hasPrefix(":") ? "{\(part.dropFirst())}" : String(part)
                }.joined(separator: "/")
            })
            #expect(served.subtracting(documented).sorted() == [], "served but not documented")
            #expect(documented.subtracting(served).sorted() == [], "documented but not served")
        }
    }
}
