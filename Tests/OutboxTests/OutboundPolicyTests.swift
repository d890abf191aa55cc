import Foundation
import Testing

@testable import Outbox

@Suite struct OutboundPolicyTests {
    @Test(arguments: [
        "http://127.0.0.1/x", "http://10.1.2.3/x", "http://172.16.0.1/x", "http://192.168.1.1/x",
        "http://169.254.169.254/latest/meta-data", "http://0.0.0.0/x", "http://100.64.0.1/x", "http://[::1]/x",
        "http://[fe80::1]/x", "http://[fd00::1]/x", "http://[::ffff:127.0.0.1]/x", "http://[64:ff9b::a00:1]/x",
        "http://224.0.0.1/x", "http://[::7f00:1]/x", "http://[::a00:1]/x", "http://[2002:7f00:1::1]/x", "http://[2002:c0a8:101::1]/x",
        "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/x",
    ])
    func specialAddressesAreRefusedAndNameTheSetting(url: String) {
        do {
            try OutboundPolicy.strict.check(URL(string: url)!)
            Issue.record("\(url) should be refused")
        } catch {
            #expect(error.description.contains("OUTBOUND_ALLOW"))
        }
    }

    @Test(arguments: ["https://93.184.215.14/hook", "http://[2606:2800:21f:cb07:6820:80da:af6b:8b2c]/x"])
    func publicAddressesPass(url: String) throws {
        try OutboundPolicy.strict.check(URL(string: url)!)
    }

    @Test func hostNamesAreJudgedByWhatTheyResolveTo() throws {
        let resolver: (String) -> [IPAddress] = { host in
            host == "evil.example"
                ? [IPAddress(parsing: "93.184.215.14")!, IPAddress(parsing: "10.0.0.5")!]
                : [IPAddress(parsing: "93.184.215.14")!]
        }
        #expect(throws: OutboundPolicyError.forbiddenAddress(host: "evil.example", address: "10.0.0.5")) {
            try OutboundPolicy.strict.check(URL(string: "https://evil.example/x")!, resolve: resolver)
        }
        try OutboundPolicy.strict.check(URL(string: "https://good.example/x")!, resolve: resolver)
        #expect(throws: OutboundPolicyError.self) {
            try OutboundPolicy.strict.check(URL(string: "http://localhost:8080/")!)
        }
    }

    @Test func allowListByCIDRAndByHost() throws {
        let policy = try OutboundPolicy(allowing: ["10.0.0.0/8", "n8n.internal", "::1"])
        try policy.check(URL(string: "http://10.20.30.40/x")!)
        try policy.check(URL(string: "http://[::1]:5678/x")!)
        try policy.check(URL(string: "http://n8n.internal/x")!, resolve: { _ in [IPAddress(parsing: "192.168.0.9")!] })
        #expect(throws: OutboundPolicyError.self) { try policy.check(URL(string: "http://192.168.0.1/x")!) }
        #expect(policy.permits(IPAddress(parsing: "10.9.9.9")!))
        #expect(!policy.permits(IPAddress(parsing: "127.0.0.1")!))
    }

    @Test func anAllowListedHostNameMayConnectToWhatItResolvesToButOnlyUnderThatName() throws {
        let policy = try OutboundPolicy(allowing: ["n8n.internal"])
        let loopback = IPAddress(parsing: "127.0.0.1")!
        #expect(policy.permits(loopback, connectingTo: "http://n8n.internal:5678/webhook/x"))
        #expect(policy.permits(loopback, connectingTo: "http://N8N.internal/webhook/x"))
        #expect(!policy.permits(loopback, connectingTo: "http://127.0.0.1:5678/webhook/x"))
        #expect(!policy.permits(loopback, connectingTo: "http://other.internal/webhook/x"))
        #expect(policy.permits(IPAddress(parsing: "93.184.215.14")!, connectingTo: "https://example.com/"))
    }

    @Test func schemesAndBadEntries() {
        #expect(throws: OutboundPolicyError.unsupportedScheme("ftp")) {
            try OutboundPolicy.strict.check(URL(string: "ftp://example.com/x")!)
        }
        #expect(throws: OutboundPolicyError.invalidEntry("10.0.0.0/33")) { try OutboundPolicy(allowing: ["10.0.0.0/33"]) }
        #expect(throws: OutboundPolicyError.invalidEntry("bad host!")) { try OutboundPolicy(allowing: ["bad host!"]) }
    }

    @Test func networksMatchByPrefix() {
        let network = IPNetwork(parsing: "172.16.0.0/12")!
        #expect(network.contains(IPAddress(parsing: "172.31.255.255")!))
        #expect(!network.contains(IPAddress(parsing: "172.32.0.0")!))
        #expect(!network.contains(IPAddress(parsing: "::1")!))
        #expect(IPAddress(parsing: "2001:db8::1")!.description == "2001:db8::1")
    }
}
