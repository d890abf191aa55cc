import Mustache

/// The consoles' Mustache templates: the files in `Resources/Templates`, compiled into the binary.
///
/// `{{name}}` escapes HTML (quotes included), so every value a user or a webhook receiver can
/// influence is inert; no template uses the unescaped `{{{…}}}` form. Forms marked `data-api` are
/// submitted by `console.js` to the JSON API (see ``ConsoleAssets``); every form carries the
/// session's CSRF token (the `csrf` partial).
enum ConsoleTemplate: String, CaseIterable, Sendable {
    // Partials and the frame.
    case head, layout, csrf, deliveryRows, endpointHealth
    case login
    case adminOverview, adminTenants, adminTenant, adminSessions, adminEndpoints
    case deliveries, delivery
    case tenantSessions, tenantSession, tenantGroups, tenantWebhooks, tenantSettings, tenantMessages, tenantEvents

    /// The template's text. Files end with a newline; the template does not, so that a partial
    /// used inside a line (`{{>csrf}}`) adds nothing but itself.
    var text: String {
        var text = String(decoding: bytes, as: UTF8.self)
        if text.hasSuffix("\n") { text.removeLast() }
        return text
    }

    private var bytes: [UInt8] {
        switch self {
        case .head: PackageResources.head_mustache
        case .layout: PackageResources.layout_mustache
        case .csrf: PackageResources.csrf_mustache
        case .deliveryRows: PackageResources.deliveryRows_mustache
        case .endpointHealth: PackageResources.endpointHealth_mustache
        case .login: PackageResources.login_mustache
        case .adminOverview: PackageResources.adminOverview_mustache
        case .adminTenants: PackageResources.adminTenants_mustache
        case .adminTenant: PackageResources.adminTenant_mustache
        case .adminSessions: PackageResources.adminSessions_mustache
        case .adminEndpoints: PackageResources.adminEndpoints_mustache
        case .deliveries: PackageResources.deliveries_mustache
        case .delivery: PackageResources.delivery_mustache
        case .tenantSessions: PackageResources.tenantSessions_mustache
        case .tenantSession: PackageResources.tenantSession_mustache
        case .tenantGroups: PackageResources.tenantGroups_mustache
        case .tenantWebhooks: PackageResources.tenantWebhooks_mustache
        case .tenantSettings: PackageResources.tenantSettings_mustache
        case .tenantMessages: PackageResources.tenantMessages_mustache
        case .tenantEvents: PackageResources.tenantEvents_mustache
        }
    }

    /// Every template, parsed. A template that does not parse is an error of start-up (and of the
    /// test that renders them all), never a crash.
    ///
    /// - Parameter replacing: other texts for some templates (a test's broken one).
    static func library(replacing: [ConsoleTemplate: String] = [:]) throws -> MustacheLibrary {
        var library = MustacheLibrary()
        for template in allCases {
            do {
                try library.register(replacing[template] ?? template.text, named: template.rawValue)
            } catch {
                throw ConsoleTemplateError(template: template, error: error)
            }
        }
        return library
    }
}

/// A console template that does not parse.
struct ConsoleTemplateError: Error, CustomStringConvertible {
    var template: ConsoleTemplate
    var error: any Error

    var description: String { "console template '\(template.rawValue).mustache' does not parse: \(error)" }
}

/// The typed model of a console page: what its template reads, and which template that is.
protocol ConsolePage: Sendable {
    static var template: ConsoleTemplate { get }
}

/// Renders the console templates with their typed models.
struct ConsoleRenderer: Sendable {
    let library: MustacheLibrary

    init() throws { library = try ConsoleTemplate.library() }

    /// A page inside the frame (`layout`): header, navigation, logout form.
    func render<Page: ConsolePage>(_ frame: PageFrame<Page>) -> String {
        library.render(frame, withTemplate: Page.template.rawValue) ?? ""
    }

    func render(_ form: LoginForm) -> String {
        library.render(form, withTemplate: ConsoleTemplate.login.rawValue) ?? ""
    }
}

/// What the frame (`layout`) shows around every page, and the page.
struct PageFrame<Page: ConsolePage>: Sendable {
    struct NavItem: Sendable {
        var href: String
        var label: String
        var current: Bool
    }

    var title: String
    var csrf: String
    var role: String
    var home: String
    var logout: String
    var nav: [NavItem]
    /// The watchdog's alerts that hold now, shown above every page.
    var alerts: [AlertBanner] = []
    /// Endpoints that have failed for a while or were disabled, each with its one-click fix.
    var troubledEndpoints: [EndpointBanner] = []
    var page: Page
}

/// An endpoint in trouble as a banner: its URL, since when or why, its last error, and a button
/// that re-enables it and replays what it missed.
struct EndpointBanner: Sendable {
    var id: String
    var url: String
    var state: String
    var lastError: String?
    var deliveries: String

    init(_ trouble: EndpointTrouble, kind: Console.Kind) {
        id = trouble.endpointID
        url = trouble.url
        state =
            trouble.isDisabled
            ? "was disabled" + (trouble.disabledReason.map { ": \($0)" } ?? "")
            : "has been failing since \(Console.time(trouble.failingSince))"
        lastError = trouble.lastError
        deliveries = kind.base + "/deliveries?endpointId=" + trouble.endpointID
    }
}

/// One watchdog alert as a banner: what is wrong, since when, and where to look.
struct AlertBanner: Sendable {
    var kind: String
    var message: String
    var since: String
    var session: String
    var href: String
    var linkLabel: String

    init(_ alert: WatchdogAlert, kind console: Console.Kind) {
        kind = alert.kind.rawValue
        message = alert.message
        since = Console.time(alert.since)
        session = alert.sessionID
        switch alert.kind {
        case .undelivered:
            href = console.base + "/deliveries?endpointId=" + (alert.key.endpointID ?? "")
            linkLabel = "See the waiting deliveries"
        case .uncommitted:
            href = console.base + (console == .admin ? "/sessions" : "/sessions/" + alert.sessionID)
            linkLabel = "See the session"
        }
    }
}

/// The login form of either console.
struct LoginForm: Sendable {
    var title: String
    var action: String
    var csrf: String
    var asksUsername: Bool
    /// Why the last attempt failed; absent on a fresh form.
    var error: String?
}
