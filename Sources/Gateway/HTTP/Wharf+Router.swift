import Crypto
import Foundation
import Hummingbird

extension Wharf {
    /// Every route, the Hummingbird way: the JSON API in the `v1` group, the consoles in `admin` and
    /// `dashboard`, the documents, assets, health and metrics at the root, and the seed's routes in
    /// one group of their own (``LegacyController``), the only one that accepts `?token=`.
    ///
    /// - Throws: when the OpenAPI document or a console template cannot be read.
    static func makeRouter(
        _ services: GatewayServices, dispatcher: Dispatcher, media: MediaFetcher, received: MediaService, mediaLinks: MediaLinks,
        metrics: WharfMetrics
    ) throws -> Router<AppRequestContext> {
        let router = Router(context: AppRequestContext.self)
        let authenticator = services.authenticator
        router.add(middleware: ClientAddressMiddleware(trusted: services.configuration.trustedProxies))
        router.add(middleware: RequestLogMiddleware())
        router.add(middleware: ProblemMiddleware())
        router.add(
            middleware: BodyLimitMiddleware(
                limit: services.configuration.maxBodyBytes,
                largerLimits: [CloudWebhookController.pathPrefix: CloudWebhookController.bodyLimit]))
        router.add(middleware: AuthenticationMiddleware(authenticator: authenticator, allowsQueryToken: false))

        let lookup = Lookup(services: services)
        let account = AccountController(services: services, lookup: lookup)
        let tenants = TenantController(services: services, lookup: lookup)
        let sessions = SessionController(services: services, lookup: lookup)
        let messages = MessageController(services: services, lookup: lookup, dispatcher: dispatcher, media: media)

        let v1 = router.group("v1")
        account.addRoutes(to: v1)
        tenants.addRoutes(to: v1)
        sessions.addRoutes(to: v1)
        messages.addRoutes(to: v1)
        WebhookController(services: services, lookup: lookup).addRoutes(to: v1)
        GroupController(services: services, lookup: lookup).addRoutes(to: v1)
        ContactController(services: services, lookup: lookup).addRoutes(to: v1)
        DeliveryController(services: services).addRoutes(to: v1)
        EventStreamController(services: services).addRoutes(to: v1)
        EventSocketController(services: services).addRefusalRoute(to: v1)
        CloudWebhookController(services: services, dispatcher: dispatcher).addRoutes(to: v1)
        MediaController(services: services, media: received, links: mediaLinks).addRoutes(to: v1)

        let console = try Console(services: services, lookup: lookup)
        AdminConsoleController(console: console).addRoutes(to: router.group("admin"))
        TenantConsoleController(console: console).addRoutes(to: router.group("dashboard"))

        let root = router.group()
        HealthController(services: services).addRoutes(to: root)
        MetricsController(services: services, metrics: metrics).addRoutes(to: root)
        APIDocsController(document: try OpenAPIDocument.bundled.get()).addRoutes(to: root)
        ConsoleAssets().addRoutes(to: root)

        let legacy = router.group().add(middleware: AuthenticationMiddleware(authenticator: authenticator, allowsQueryToken: true))
        LegacyController(
            services: services, lookup: lookup, account: account, tenants: tenants, sessions: sessions, messages: messages
        ).addRoutes(to: legacy)
        return router
    }

    /// The routes that upgrade to a WebSocket (``EventSocketController``, which authenticates
    /// itself so that a refusal can be said on the socket). A request it does not upgrade goes on
    /// to the HTTP router.
    static func makeWebSocketRouter(_ services: GatewayServices) -> Router<AppRequestContext> {
        let router = Router(context: AppRequestContext.self)
        router.add(middleware: ClientAddressMiddleware(trusted: services.configuration.trustedProxies))
        EventSocketController(services: services).addSocketRoute(to: router.group("v1"))
        return router
    }
}
