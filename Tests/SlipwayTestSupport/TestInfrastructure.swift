import Foundation
import Logging
import PostgresNIO
import SlipwayEventSourcing
import SlipwayPlatform

/// The PostgreSQL cluster and dev broker `scripts/test` started, read from the file it writes (not the
/// environment, which would make SwiftPM re-plan the build). Every test target reads it through here.
public struct TestInfrastructure: Decodable, Sendable {
    public let postgresUrl: String
    public let kafkaBrokers: String
    /// Where `scripts/test` built the executables (model-server, slipway-devbroker, …).
    public let binDirectory: String
    /// A scratch directory `scripts/test` removes after the run.
    public let workDirectory: String

    public static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    public static let shared: TestInfrastructure = {
        let file = packageRoot.appendingPathComponent(".slipway-test/env.json")
        guard let data = try? Data(contentsOf: file), let infrastructure = try? PlatformJSON.decoder.decode(TestInfrastructure.self, from: data)
        else {
            fatalError("integration tests need \(file.path): run them through `make test` (scripts/test), which starts PostgreSQL and the dev broker")
        }
        return infrastructure
    }()

    /// Warnings and errors only: a passing run stays readable.
    public static var logger: Logger {
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        return logger
    }

    /// A new, empty database on the test cluster.
    public func freshDatabase(_ prefix: String) async throws -> DatabaseURL {
        let url = try DatabaseURL(postgresUrl, defaultDatabase: "\(prefix)_\(UUID().uuidString.prefix(8).lowercased())")
        try await url.ensureDatabaseExists(logger: Self.logger)
        return url
    }

    /// A topic no other test uses (the dev broker creates it on first use).
    public func uniqueTopic(_ prefix: String) -> String { "test.\(prefix).\(UUID().uuidString.prefix(8).lowercased())" }

    /// An executable `scripts/test` built.
    public func executable(_ name: String) -> URL { URL(fileURLWithPath: binDirectory).appendingPathComponent(name) }
}

/// Runs `body` with a PostgreSQL client on `url`, the client's run loop in the background.
public func withPostgres<T: Sendable>(_ url: DatabaseURL, _ body: @Sendable (PostgresClient) async throws -> T) async throws -> T {
    var quiet = TestInfrastructure.logger
    quiet.logLevel = .error  // the pool warns when a query races its own start-up: expected here
    let client = PostgresClient(configuration: try url.clientConfiguration(), backgroundLogger: quiet)
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { await client.run() }
        defer { group.cancelAll() }
        return try await body(client)
    }
}

/// Polls `condition` until it holds, or fails the test after `timeout`.
public func eventually(timeout: Duration = .seconds(30), _ what: String, _ condition: @Sendable () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(50))
    }
    throw TimedOut(description: "timed out after \(timeout): \(what)")
}

public struct TimedOut: Error, CustomStringConvertible {
    public let description: String
    public init(description: String) { self.description = description }
}

extension TestInfrastructure {
    /// Where a test's services find no peer (port 1 refuses at once).
    public static let noPeer = "http://127.0.0.1:1"

    /// The actor secret every service a test starts in-process holds (unless its reader names one), as the gateway
    /// and the services of one installation share theirs: `HTTPFields.actor(_:)` signs with it.
    public static let actorSecret = "test-actor-secret-" + String(repeating: "0", count: 32)

    /// `--peer` arguments pointing every other service at `noPeer`, for service processes a test starts: the default
    /// ports may belong to another test's `slipway up`.
    public static var isolatedPeerArguments: [String] {
        ["--peer", ServiceDirectory.domainServices.map { "\($0.rawValue)=\(noPeer)" }.joined(separator: ",")]
    }
}
