import Foundation
import Gateway
import Logging

/// `wharf`: reads configuration, builds the gateway and runs it until SIGTERM / SIGINT.
@main
struct WharfMain {
    static func main() async {
        let configuration: WharfConfiguration
        do {
            configuration = try await WharfConfiguration.load()
        } catch let error as ConfigurationError {
            FileHandle.standardError.write(Data("wharf: cannot start: \(error)\n".utf8))
            exit(64)
        } catch {
            FileHandle.standardError.write(Data("wharf: cannot start: \(error)\n".utf8))
            exit(64)
        }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = configuration.logLevel
            return handler
        }
        do {
            let wharf = try await Wharf.make(configuration: configuration) { port in
                say("Wharf is listening on port \(port)")
            }
            if let password = wharf.generatedAdminPassword {
                say(
                    """

                    ==============================================================
                     Admin password (generated, shown only this once): \(password)
                     Log in at \(configuration.baseURL)/admin
                     Only its hash is stored; set ADMIN_PASSWORD to choose your own.
                    ==============================================================

                    """)
            }
            try await wharf.application.runService()
        } catch let error as ConfigurationError {
            FileHandle.standardError.write(Data("wharf: cannot start: \(error)\n".utf8))
            exit(64)
        } catch {
            FileHandle.standardError.write(Data("wharf: stopped: \(error)\n".utf8))
            exit(1)
        }
    }

    /// Writes a line to standard output at once (unbuffered even into a pipe or a file), so
    /// supervisors and tests see start-up lines when they happen.
    static func say(_ text: String) {
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }
}
