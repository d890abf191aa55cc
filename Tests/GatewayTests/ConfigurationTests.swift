import Foundation
import Testing
import WharfCore

@testable import Gateway

@Suite struct ConfigurationTests {
    @Test func defaultsMatchTheSeed() async throws {
        let configuration = try await WharfConfiguration.load(arguments: ["wharf"], environment: [:])
        #expect(configuration.port == 5001)
        #expect(configuration.dataDirectory == "./data")
        #expect(configuration.adminPassword == nil)
        #expect(configuration.logLevel == .info)
        #expect(configuration.usesSecureCookies == false)
    }

    @Test func environmentVariablesAreRead() async throws {
        let configuration = try await WharfConfiguration.load(
            arguments: ["wharf"],
            environment: [
                "PORT": "8080", "DATA_DIR": "/tmp/x", "PUBLIC_URL": "https://wharf.example.com",
                "LOG_LEVEL": "debug", "ADMIN_PASSWORD": "a long password", "JWT_SECRET": String(repeating: "j", count: 32),
                "OUTBOUND_ALLOW": "10.0.0.0/8, n8n.internal",
            ])
        #expect(configuration.port == 8080)
        #expect(configuration.dataDirectory == "/tmp/x")
        #expect(configuration.usesSecureCookies)
        #expect(configuration.logLevel == .debug)
        #expect(configuration.adminPassword == "a long password")
        #expect(configuration.jwtSecret == String(repeating: "j", count: 32))
        #expect(throws: Never.self) { try configuration.outboundPolicy.check(URL(string: "http://10.1.2.3/hook")!) }
        #expect(throws: Never.self) { try configuration.outboundPolicy.check(URL(string: "http://n8n.internal/hook")!) }
    }

    @Test func webEngineSettingsAreRead() async throws {
        let defaults = try await WharfConfiguration.load(arguments: ["wharf"], environment: [:])
        #expect(defaults.webEngine.url == "wss://web.whatsapp.com/ws/chat")
        #expect(!defaults.trustsTestRoot)
        let key = String(repeating: "ab", count: 32)
        let configuration = try await WharfConfiguration.load(
            arguments: ["wharf"],
            environment: ["WA_WS_URL": "ws://127.0.0.1:9/ws/chat", "WA_VERSION": "2.3000.1", "WA_ROOT_KEY": key])
        #expect(configuration.webEngine.url == "ws://127.0.0.1:9/ws/chat")
        #expect(configuration.webEngine.version == [2, 3000, 1])
        #expect(configuration.webEngine.trust.rootKey.hex == key)
        #expect(configuration.trustsTestRoot)
    }

    @Test func flagsBeatEnvironmentAndFileComesLast() async throws {
        let file = NSTemporaryDirectory() + "wharf-config-\(UUID().uuidString).env"
        try "# a comment\nPORT=7000\nLOG_LEVEL=warning\nDATA_DIR=/from/file\n".write(
            toFile: file, atomically: true, encoding: .utf8)
        let configuration = try await WharfConfiguration.load(
            arguments: ["wharf", "--port", "9000", "--config-file", file],
            environment: ["PORT": "8000", "DATA_DIR": "/from/env"])
        #expect(configuration.port == 9000)
        #expect(configuration.dataDirectory == "/from/env")
        #expect(configuration.logLevel == .warning)
    }

    @Test(arguments: [
        (["PORT": "eighty"], "PORT"),
        (["PORT": "70000"], "PORT"),
        (["LOG_LEVEL": "loud"], "LOG_LEVEL"),
        (["PUBLIC_URL": "ftp://x"], "PUBLIC_URL"),
        (["JWT_SECRET": "short"], "JWT_SECRET"),
        (["SESSION_SECRET": "short"], "SESSION_SECRET"),
        (["OUTBOUND_ALLOW": "10.0.0.0/99"], "OUTBOUND_ALLOW"),
        (["ADMIN_PASSWORD": "abc"], "ADMIN_PASSWORD"),
        (["CONFIG_FILE": "/nonexistent/wharf.env"], "CONFIG_FILE"),
        (["WA_WS_URL": "https://web.whatsapp.com/ws/chat"], "WA_WS_URL"),
        (["WA_VERSION": "2.3000"], "WA_VERSION"),
        (["WA_ROOT_KEY": "abcd"], "WA_ROOT_KEY"),
        (["WA_CA_FILE": "/nonexistent/roots.pem"], "WA_CA_FILE"),
        (["WA_CA_FILE": "/etc/hostname"], "WA_CA_FILE"),
    ])
    func invalidValuesNameTheVariable(environment: [String: String], variable: String) async throws {
        do {
            _ = try await WharfConfiguration.load(arguments: ["wharf"], environment: environment)
            Issue.record("expected \(variable) to be refused")
        } catch let error as ConfigurationError {
            #expect(error.variable == variable)
            #expect(error.description.hasPrefix(variable))
        }
    }

    @Test func missingSecretsAreGeneratedOnceAndKept() async throws {
        let directory = TestWharf.temporaryDirectory()
        var configuration = TestWharf.configuration(dataDirectory: directory)
        configuration.adminPassword = nil
        let first = try await Wharf.make(configuration: configuration)
        let password = try #require(first.generatedAdminPassword)
        let second = try await Wharf.make(configuration: configuration)
        #expect(second.generatedAdminPassword == nil)
        #expect(first.configuration.jwtSecret == second.configuration.jwtSecret)
        #expect(first.configuration.sessionSecret == second.configuration.sessionSecret)
        let stored = try String(contentsOfFile: directory + "/secrets.json", encoding: .utf8)
        #expect(!stored.contains(password))
        #expect(stored.contains("$2b$"))
        let attributes = try FileManager.default.attributesOfItem(atPath: directory + "/secrets.json")
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
    }
}
