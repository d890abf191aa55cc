import Foundation
import Outbox
import Testing
import WharfCore
import WhatsAppProtocol

@testable import Gateway

/// Every console template parses and renders with its typed model: a broken template fails here,
/// not at start-up or in front of a user.
@Suite struct ConsoleTemplateTests {
    static let now = Date(timeIntervalSince1970: 1_764_064_800)
    static let marker = "MARKER-<&>"

    static func frame<Page: ConsolePage>(_ page: Page) -> PageFrame<Page> {
        PageFrame(
            title: "Title", csrf: "csrf-token", role: "Role", home: "/admin", logout: "/admin/logout",
            nav: [.init(href: "/admin", label: "Overview", current: true)], page: page)
    }

    static let session = SessionRow(
        SessionRecord(
            id: "ses_1", tenantId: "ten_1", name: marker, engine: .sandbox, status: .scanQR, createdAt: now, updatedAt: now))
    static let endpoint: EndpointRow = {
        let record = WebhookEndpoint(id: "whk_1", tenantId: "ten_1", url: "https://example.com/\(marker)", secret: .generate(), now: now)
        return EndpointRow(record, health: WebhookController.View(record, breaker: nil), tenantName: marker)
    }()
    static let tenant = TenantRow(
        id: "ten_1", name: marker, username: "acme", maxSessions: 3, sessionCount: 1, webhookUrl: "—", created: "now", settings: "{}")
    static let deliveryRow = DeliveryPages.Row(
        id: 7, eventId: "evt_1", type: "message.received", tenantName: marker, endpointUrl: "https://example.com", status: "failed",
        label: nil, attempts: 1, lastResult: "HTTP 500", created: "now", canRetry: true)

    /// One rendered page per page template.
    static func pages(_ renderer: ConsoleRenderer) -> [(ConsoleTemplate, String)] {
        let job = JobRow(
            id: "job_1", sessionName: marker, chatId: "4915112345678@s.whatsapp.net", type: "text", status: "failed", error: marker,
            attempts: 1, created: "now", sent: "—", createdAt: now)
        let pages: [(ConsoleTemplate, String)] = [
            (
                .adminOverview,
                renderer.render(
                    frame(
                        AdminOverviewPage(
                            tenantCount: 1, sessionCount: 1, sessionsByStatus: [NamedCount(name: marker, count: 1)], jobsQueued: 0,
                            deliveriesPending: 0, deliveriesFailed: 1, deliveriesByStatus: [], oldestPending: "none", hasFailing: true,
                            rows: [endpoint])))
            ),
            (.adminTenants, renderer.render(frame(AdminTenantsPage(tenants: [tenant])))),
            (.adminTenant, renderer.render(frame(AdminTenantPage(tenant: tenant, endpoints: [endpoint], sessions: [session])))),
            (.adminSessions, renderer.render(frame(AdminSessionsPage(sessions: [session])))),
            (.adminEndpoints, renderer.render(frame(AdminEndpointsPage(rows: [endpoint])))),
            (
                .deliveries,
                renderer.render(
                    frame(
                        DeliveryPages.ListModel(
                            base: "/admin", isAdmin: true, filter: DeliveryPages.Filter(),
                            statuses: [Choice(id: "failed", name: "failed", selected: true)],
                            tenants: [], endpoints: [], rows: [deliveryRow], total: 1, older: nil)))
            ),
            (
                .delivery,
                renderer.render(
                    frame(
                        DeliveryPages.DetailModel(
                            base: "/admin", isAdmin: true, id: 7, eventId: "evt_1", type: "message.received", tenantId: "ten_1", tenantName: marker,
                            endpointUrl: "https://example.com", status: "failed", label: nil, created: "now", nextAttempt: "—", delivered: "—",
                            canRetry: true, canDiscard: true, attempts: [], payload: "{}")))
            ),
            (
                .tenantSessions,
                renderer.render(
                    frame(
                        TenantSessionsPage(
                            sessions: [session], count: 1, maxSessions: 1, single: true, atLimit: true, engines: EngineKind.allCases.map(\.rawValue)))
                )
            ),
            (
                .tenantSession,
                renderer.render(
                    frame(
                        TenantSessionPage(
                            id: "ses_1", name: marker, engine: "cloud", status: "scan_qr", statusDetail: "", phone: "—", pushName: "", qr: "2@qr",
                            pairingCode: "", linking: true, isSandbox: true, isWeb: true,
                            cloud: .init(webhookUrl: "https://wharf.example.com/v1/cloud/webhook/ses_1", phoneNumberId: "1065"),
                            hasGroups: true, proxy: "socks5://\(marker)@203.0.113.7:1080", created: "now",
                            traffic: .init(
                                received: 3, committed: 2, uncommitted: 1, isCommitting: true,
                                delivered: [.init(url: "https://\(marker).example.com/hook", count: 2)]),
                            history: [.init(at: "now", status: "disconnected", detail: "lost \(marker)")])))
            ),
            (
                .tenantGroups,
                renderer.render(
                    frame(
                        TenantGroupsPage(
                            sessionId: "ses_1", sessionName: marker, problem: nil,
                            groups: [
                                .init(
                                    GroupInfo(
                                        id: ChatID("120363000000000001@g.us"), subject: marker, description: marker, isAnnounce: true,
                                        participants: [GroupMember(phone: "4915100000001", role: .superadmin), GroupMember(phone: "4915100000002")]))
                            ], count: 1, single: true)))
            ),
            (.tenantWebhooks, renderer.render(frame(TenantWebhooksPage(endpoints: [endpoint])))),
            (
                .tenantSettings,
                renderer.render(
                    frame(
                        TenantSettingsPage(
                            aiPrompt: marker, humanize: HumanizePolicy(),
                            keys: [KeyRow(id: "key_1", name: marker, prefix: "wharf_sk_ab", created: "now", lastUsed: "—")])))
            ),
            (.tenantMessages, renderer.render(frame(TenantMessagesPage(sessions: [session], hasSessions: true, jobs: [job])))),
            (.tenantEvents, renderer.render(frame(TenantEventsPage(sessions: [session], types: "message.received,session.status")))),
            (.login, renderer.render(LoginForm(title: "Wharf admin", action: "/admin/login", csrf: "csrf-token", asksUsername: true, error: marker))),
        ]
        return pages
    }

    @Test func everyTemplateParsesAndEveryPageRendersWithItsTypedModel() throws {
        let renderer = try ConsoleRenderer()
        let rendered = Self.pages(renderer)
        let partials: Set<ConsoleTemplate> = [.head, .layout, .csrf, .deliveryRows, .endpointHealth]
        #expect(Set(rendered.map(\.0)).union(partials) == Set(ConsoleTemplate.allCases), "a sample for every page template")
        for (template, html) in rendered {
            #expect(html.hasPrefix("<!doctype html>"), "\(template) starts with the head partial")
            #expect(html.hasSuffix("</html>"), "\(template) ends the document")
            #expect(!html.contains("{{") && !html.contains("}}"), "\(template) left no tag behind")
            #expect(html.contains("MARKER-&lt;&amp;&gt;"), "\(template) shows the model's values, escaped")
            #expect(!html.contains(Self.marker), "\(template) escapes every value")
            if template != .login {
                #expect(html.contains(#"<meta name="csrf-token" content="csrf-token">"#), "\(template) is inside the frame")
                #expect(!html.contains("Optional("), "\(template) shows no optional")
            }
        }
        let session = try #require(rendered.first { $0.0 == .tenantSession }?.1)
        #expect(session.contains(#"class="status scan_qr""#), "a status is its wire value")
        #expect(session.contains(#"id="cloud-webhook-url">https://wharf.example.com/v1/cloud/webhook/ses_1<"#))
    }

    @Test func aTemplateThatDoesNotParseIsAnErrorNotACrash() {
        #expect(throws: ConsoleTemplateError.self) {
            try ConsoleTemplate.library(replacing: [.login: "{{#error}} never closed"])
        }
    }
}
