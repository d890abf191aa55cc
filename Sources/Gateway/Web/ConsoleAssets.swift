import Hummingbird

/// The consoles' stylesheet and script (`Resources/console.css`, `Resources/console.js`), compiled
/// into the binary: one file to deploy, no build step. Both are served from `/assets/` so the
/// pages' Content-Security-Policy can forbid every inline script and style.
struct ConsoleAssets {
    func addRoutes(to group: RouterGroup<AppRequestContext>) {
        group.get("assets/console.css") { _, _ in Self.asset(PackageResources.console_css, type: "text/css; charset=utf-8") }
        group.get("assets/console.js") { _, _ in Self.asset(PackageResources.console_js, type: "text/javascript; charset=utf-8") }
    }

    static func asset(_ bytes: [UInt8], type: String) -> Response {
        Response(
            status: .ok,
            headers: [.contentType: type, .cacheControl: "public, max-age=300", Console.cspHeader: Console.contentSecurityPolicy],
            body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}
