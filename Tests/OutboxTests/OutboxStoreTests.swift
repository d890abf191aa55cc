import Foundation
import GRDB
import Testing
import WharfCore

@testable import Outbox

@Suite struct OutboxStoreTests {
    let now = Date(timeIntervalSince1970: 1_764_064_800)

    func makeStore() throws -> OutboxStore {
        let path = NSTemporaryDirectory() + "outbox-\(UUID().uuidString).sqlite"
        return try OutboxStore(try SQLiteDatabase.openPool(at: path))
    }

    func event(_ id: String, tenant: String = "ten_a", type: String = "message.received") -> OutboxEvent {
        OutboxEvent(id: id, tenantID: tenant, sessionID: "ses_1", type: type, payload: Data(#"{"id":"\#(id)"}"#.utf8), createdAt: now)
    }

    func endpoint(_ id: String, tenant: String = "ten_a", types: [String] = []) -> WebhookEndpoint {
        var endpoint = WebhookEndpoint(id: id, tenantId: tenant, url: "https://example.com/\(id)", secret: .generate(), now: now)
        endpoint.eventTypes = EventFilter(types)
        return endpoint
    }

    @Test func acceptCreatesOneDeliveryPerMatchingEnabledEndpoint() async throws {
        let store = try makeStore()
        try await store.insertEndpoint(endpoint("whk_all"))
        try await store.insertEndpoint(endpoint("whk_messages", types: ["message.*"]))
        try await store.insertEndpoint(endpoint("whk_status", types: ["session.status"]))
        var disabled = endpoint("whk_off")
        disabled.isEnabled = false
        try await store.insertEndpoint(disabled)
        try await store.insertEndpoint(endpoint("whk_other", tenant: "ten_b"))
        #expect(try await store.accept(event("evt_1")) == 2)
        #expect(try await store.accept(event("evt_2", type: "session.status")) == 2)
        let endpoints = try await store.endpoints(tenantID: "ten_a").map(\.id)
        #expect(endpoints == ["whk_all", "whk_messages", "whk_status", "whk_off"])
    }

    @Test func concurrentAcceptsShareCommitsAndAllLand() async throws {
        let store = try makeStore()
        try await store.insertEndpoint(endpoint("whk_all"))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<500 { group.addTask { try await store.accept(event("evt_\(index)")) } }
            try await group.waitForAll()
        }
        #expect(try await store.countDeliveries(matching: DeliveryFilter(status: .pending)) == 500)
        // An id stored before is kept once (a redelivered upstream event), whatever its batch.
        #expect(try await store.accept(event("evt_1")) == 0)
        #expect(try await store.accept([event("evt_new"), event("evt_2"), event("evt_new")]) == [true, false, false])
        #expect(try await store.countDeliveries(matching: DeliveryFilter()) == 501)
    }

    @Test func claimsLeaseAndExpiredLeasesAreReclaimed() async throws {
        let store = try makeStore()
        try await store.insertEndpoint(endpoint("whk_all"))
        for index in 0..<3 { try await store.accept(event("evt_\(index)")) }
        let first = try await store.claim(now: now, lease: .seconds(60), limit: 2, excluding: [])
        #expect(first.map(\.eventID) == ["evt_0", "evt_1"])
        #expect(first.allSatisfy { $0.attempt == 1 && !$0.payload.isEmpty })
        let second = try await store.claim(now: now, lease: .seconds(60), limit: 10, excluding: [])
        #expect(second.map(\.eventID) == ["evt_2"])
        #expect(try await store.claim(now: now.addingTimeInterval(59), lease: .seconds(60), limit: 10, excluding: []).isEmpty)
        let reclaimed = try await store.claim(now: now.addingTimeInterval(61), lease: .seconds(60), limit: 10, excluding: [])
        #expect(reclaimed.count == 3)
        #expect(reclaimed.allSatisfy { $0.attempt == 2 })
    }

    @Test func heldEndpointsAreSkippedAndReleasedRowsKeepTheirAttempts() async throws {
        let store = try makeStore()
        try await store.insertEndpoint(endpoint("whk_a"))
        try await store.insertEndpoint(endpoint("whk_b"))
        try await store.accept(event("evt_1"))
        let claimed = try await store.claim(now: now, lease: .seconds(60), limit: 10, excluding: ["whk_a"])
        #expect(claimed.map(\.endpointID) == ["whk_b"])
        try await store.release(claimed[0], now: now)
        let again = try await store.claim(now: now, lease: .seconds(60), limit: 10, excluding: ["whk_a"])
        #expect(again.first?.attempt == 1)
    }

    @Test func recoveryRequeueAndPrune() async throws {
        let store = try makeStore()
        try await store.insertEndpoint(endpoint("whk_a"))
        try await store.accept(event("evt_1"))
        try await store.accept(event("evt_2"))
        let claimed = try await store.claim(now: now, lease: .seconds(600), limit: 10, excluding: [])
        #expect(try await store.recoverInFlight(now: now) == 2)
        let reclaimed = try await store.claim(now: now, lease: .seconds(600), limit: 10, excluding: [])
        #expect(reclaimed.count == 2)
        try await store.record(
            AttemptResult(
                deliveryID: claimed[0].id, endpointID: "whk_a", attempt: 2, startedAt: now, duration: .milliseconds(12),
                httpStatus: 200, error: nil, responseSnippet: "ok", decision: .delivered), now: now)
        try await store.record(
            AttemptResult(
                deliveryID: claimed[1].id, endpointID: "whk_a", attempt: 2, startedAt: now, duration: .milliseconds(5),
                httpStatus: 500, error: nil, responseSnippet: nil, decision: .fail(reason: "gave up")), now: now)
        let detail = try #require(try await store.delivery(id: claimed[0].id, tenantID: "ten_a"))
        #expect(detail.delivery.status == .delivered)
        #expect(detail.attempts.map(\.httpStatus) == [200])
        #expect(try await store.delivery(id: claimed[0].id, tenantID: "ten_b") == nil)

        #expect(try await store.countDeliveries(matching: DeliveryFilter(status: .failed)) == 1)
        #expect(try await store.requeue(matching: DeliveryFilter(), statuses: [.failed], now: now) == 1)
        #expect(try await store.requeue(matching: DeliveryFilter(from: now, to: now.addingTimeInterval(1)), statuses: [.delivered], now: now) == 1)
        #expect(try await store.countDeliveries(matching: DeliveryFilter(status: .pending)) == 2)

        let again = try await store.claim(now: now, lease: .seconds(600), limit: 10, excluding: [])
        for delivery in again {
            try await store.record(
                AttemptResult(
                    deliveryID: delivery.id, endpointID: "whk_a", attempt: 1, startedAt: now, duration: .zero, httpStatus: 200,
                    error: nil, responseSnippet: nil, decision: .delivered), now: now)
        }
        #expect(try await store.prune(deliveredBefore: now.addingTimeInterval(-1)) == 0)
        #expect(try await store.prune(deliveredBefore: now.addingTimeInterval(1)) == 2)
        #expect(try await store.countDeliveries(matching: DeliveryFilter()) == 0)
        let attempts = try await store.writer.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM delivery_attempt") }
        #expect(attempts == 0)
    }
}
