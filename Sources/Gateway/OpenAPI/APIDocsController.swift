import Foundation
import Hummingbird

/// The API's OpenAPI 3.1 document at `/openapi.yaml` (the hand-edited source, see
/// ``OpenAPIDocument``) and `/openapi.json` (the same, as JSON), and `/docs`, a page that lays it
/// out for people. All of it ships inside the binary: the page (`Web/Resources/docs.html`) is plain
/// HTML and one script of ours (`docs.js`, which renders the document with DOM calls and
/// `textContent` only), with nothing fetched from anywhere else.
struct APIDocsController {
    let document: OpenAPIDocument

    func addRoutes(to group: RouterGroup<AppRequestContext>) {
        group.get("openapi.json", use: json)
        group.get("openapi.yaml", use: yaml)
        group.get("docs") { _, _ in ConsoleAssets.asset(PackageResources.docs_html, type: "text/html; charset=utf-8") }
        group.get("assets/docs.js") { _, _ in ConsoleAssets.asset(PackageResources.docs_js, type: "text/javascript; charset=utf-8") }
    }

    @Sendable func json(_ request: Request, context: AppRequestContext) -> Response {
        Response(
            status: .ok, headers: [.contentType: "application/json; charset=utf-8", .cacheControl: "no-cache"],
            body: .init(byteBuffer: ByteBuffer(bytes: document.json)))
    }

    @Sendable func yaml(_ request: Request, context: AppRequestContext) -> Response {
        Response(
            status: .ok, headers: [.contentType: "application/yaml; charset=utf-8", .cacheControl: "no-cache"],
            body: .init(byteBuffer: ByteBuffer(string: document.yaml)))
    }
}
