import ArgumentParser
import Foundation
import Logging
import SlipwayLocalRuntime
import SlipwayPlatform

/// PostgreSQL and Kafka for a benchmark: the ones given, or a throwaway embedded PostgreSQL cluster and
/// a dev broker started for the run and removed afterwards.
final class BenchInfrastructure: @unchecked Sendable {
    let postgresURL: String
    let kafkaBrokers: String
    private let postgres: EmbeddedPostgres?
    private let broker: Process?
    private let directory: URL?

    private init(postgresURL: String, kafkaBrokers: String, postgres: EmbeddedPostgres?, broker: Process?, directory: URL?) {
        self.postgresURL = postgresURL
        self.kafkaBrokers = kafkaBrokers
        self.postgres = postgres
        self.broker = broker
        self.directory = directory
    }

    /// The options every bench that starts its own infrastructure takes.
    struct Options: ParsableArguments {
        @Option(help: "Use this PostgreSQL server (base URL) instead of a throwaway cluster.") var databaseURL: String?
        @Option(help: "Use these Kafka brokers instead of a throwaway dev broker.") var kafkaBrokers: String?
    }

    /// Runs `body` with the infrastructure, which is shut down afterwards whether `body` threw or not.
    static func using<T>(_ options: Options, logger: Logger, _ body: (BenchInfrastructure) async throws -> T) async throws -> T {
        let infrastructure = try await start(databaseURL: options.databaseURL, kafkaBrokers: options.kafkaBrokers, logger: logger)
        do {
            let result = try await body(infrastructure)
            await infrastructure.shutdown()
            return result
        } catch {
            await infrastructure.shutdown()
            throw error
        }
    }

    private static func start(databaseURL: String?, kafkaBrokers: String?, logger: Logger) async throws -> BenchInfrastructure {
        var directory: URL?
        if databaseURL == nil || kafkaBrokers == nil {
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("slipway-bench-\(UUID().uuidString.prefix(8))")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            directory = dir
        }
        var postgres: EmbeddedPostgres?
        var url = databaseURL ?? ""
        if databaseURL == nil, let directory {
            let cluster = EmbeddedPostgres(directory: directory.appendingPathComponent("postgres"), logger: logger)
            url = try await cluster.start().absoluteString
            postgres = cluster
            logger.info("bench: embedded PostgreSQL at \(url)")
        }
        var broker: Process?
        var brokers = kafkaBrokers ?? ""
        if kafkaBrokers == nil, let directory {
            guard let executable = findExecutable(named: "slipway-devbroker") else {
                throw BenchError("slipway-devbroker not found next to slipway or on PATH: build the package first")
            }
            let addressFile = directory.appendingPathComponent("broker.addr")
            let process = Process()
            process.executableURL = executable
            process.arguments = ["--port", "\(try freeTCPPort())", "--address-file", addressFile.path, "--log-level", "warning"]
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            broker = process
            let deadline = Date().addingTimeInterval(20)
            while (try? String(contentsOf: addressFile, encoding: .utf8))?.isEmpty ?? true {
                guard Date() < deadline, process.isRunning else { throw BenchError("the dev broker did not start") }
                try await Task.sleep(for: .milliseconds(50))
            }
            brokers = try String(contentsOf: addressFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            logger.info("bench: dev broker at \(brokers)")
        }
        return BenchInfrastructure(postgresURL: url, kafkaBrokers: brokers, postgres: postgres, broker: broker, directory: directory)
    }

    private func shutdown() async {
        if let broker, broker.isRunning {
            broker.terminate()
            broker.waitUntilExit()
        }
        try? await postgres?.stop()
        if let directory { try? FileManager.default.removeItem(at: directory) }
    }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

extension BenchInfrastructure {
    /// A new database of this run's PostgreSQL for one benchmark run (`bench_<name>_<random>`).
    func freshDatabase(_ name: String, logger: Logger) async throws -> DatabaseURL {
        let database = try DatabaseURL(postgresURL, defaultDatabase: "bench_\(name)_\(UUID().uuidString.prefix(6).lowercased())")
        try await database.ensureDatabaseExists(logger: logger)
        return database
    }
}

/// A domain service executable (next to `slipway`) started for a benchmark on its own database, ended with it.
struct BenchService {
    let process: Process
    let port: Int
    var base: String { "http://127.0.0.1:\(port)" }

    /// Starts `name` and waits until `/readyz` answers (60 s at most). `--log-level error`: alone, a service warns every
    /// 2 s that its peers' feeds are unreachable.
    static func start(_ name: String, database: DatabaseURL, brokers: String, arguments: [String] = []) async throws -> BenchService {
        guard let executable = findExecutable(named: name) else {
            throw BenchError("\(name) not found next to slipway or on PATH: build the package first")
        }
        let port = try freeTCPPort()
        let process = Process()
        process.executableURL = executable
        process.arguments =
            ["--database-url", database.description, "--kafka-brokers", brokers, "--port", "\(port)", "--log-level", "error"] + arguments
        try process.run()
        let service = BenchService(process: process, port: port)
        let deadline = ContinuousClock.now + .seconds(60)
        while !(await HTTPProbe.isOK(URL(string: "\(service.base)/readyz")!)) {
            guard process.isRunning else { throw BenchError("\(name) exited before it became ready") }
            guard ContinuousClock.now < deadline else {
                service.stop()
                throw BenchError("\(name) did not become ready within 60 s")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        return service
    }

    func stop() {
        guard process.isRunning else { return }
        process.terminate()
        process.waitUntilExit()
    }
}
