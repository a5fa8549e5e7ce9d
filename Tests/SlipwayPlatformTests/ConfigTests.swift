import Foundation
import SlipwayPlatform
import Testing

@Suite("Configuration")
struct ConfigTests {
    @Test("command line beats environment beats default")
    func precedence() throws {
        let both = ConfigReader(arguments: ["svc", "--port", "9001"], environment: ["SLIPWAY_PORT": "9002"])
        #expect(try both.int("port", default: 1) == 9001)
        let equalsForm = ConfigReader(arguments: ["svc", "--port=9003"], environment: ["SLIPWAY_PORT": "9002"])
        #expect(try equalsForm.int("port", default: 1) == 9003)
        let environmentOnly = ConfigReader(arguments: ["svc"], environment: ["SLIPWAY_PORT": "9002"])
        #expect(try environmentOnly.int("port", default: 1) == 9002)
        #expect(try ConfigReader(arguments: [], environment: [:]).int("port", default: 7) == 7)
    }

    @Test("a malformed number names the setting")
    func badNumber() {
        let reader = ConfigReader(arguments: ["--port", "eighty"], environment: [:])
        let error = #expect(throws: ConfigError.self) { try reader.int("port", default: 1) }
        #expect(error?.description.contains("--port") == true)
        #expect(error?.description.contains("SLIPWAY_PORT") == true)
    }

    @Test("service config: peers, database per service, log level")
    func serviceConfig() throws {
        let reader = ConfigReader(
            arguments: [
                "--peer", "registry=http://10.0.0.5:9000/", "--peer", "schedule=http://a:1|http://b:2/", "--database-url",
                "postgres://app:secret@db:6543/",
            ],
            environment: ["SLIPWAY_PEER": "ignored=http://x"])
        let config = try ServiceConfig.load(service: "training", defaultPort: 8101, reader: reader)
        #expect(config.port == 8101)
        #expect(config.peers["registry"]?.urls == ["http://10.0.0.5:9000"])
        #expect(config.peers["deploy"]?.urls == ["http://127.0.0.1:8104"])
        #expect(config.peers["schedule"]?.urls == ["http://a:1", "http://b:2"], "a peer's replicas")
        #expect(throws: ConfigError.self) {
            try ServiceConfig.load(
                service: "training", defaultPort: 1, reader: ConfigReader(arguments: ["--peer", "schedule=http://a|b"], environment: [:]))
        }
        #expect(config.database.database == "slipway_training")
        #expect(config.database.port == 6543)
        #expect(config.database.password == "secret")
        #expect(!config.database.description.contains("secret"), "passwords never reach logs")
    }

    @Test("the actor secret: none by default, from the setting or from a file")
    func actorSecret() throws {
        let none = try ServiceConfig.load(service: "training", defaultPort: 1, reader: ConfigReader(arguments: [], environment: [:]))
        #expect(none.actorVoucher == nil)
        let secret = String(repeating: "s", count: 32)
        let fromEnvironment = try ServiceConfig.load(
            service: "training", defaultPort: 1, reader: ConfigReader(arguments: [], environment: ["SLIPWAY_ACTOR_SECRET": secret]))
        let signature = try #require(fromEnvironment.actorVoucher).signature(for: "alice")
        #expect(ActorVoucher(secret: secret).vouches(for: "alice", signature: signature))

        let file = FileManager.default.temporaryDirectory.appendingPathComponent("actor-\(UUID().uuidString).secret")
        defer { try? FileManager.default.removeItem(at: file) }
        try (secret + "\n").write(to: file, atomically: true, encoding: .utf8)
        let fromFile = try ServiceConfig.load(
            service: "training", defaultPort: 1, reader: ConfigReader(arguments: ["--actor-secret-file", file.path], environment: [:]))
        #expect(try #require(fromFile.actorVoucher).vouches(for: "alice", signature: signature), "the file's secret, its newline trimmed")
    }

    @Test(
        "bad values are rejected with the setting's name",
        arguments: [
            ["--database-url", "mysql://x"],
            ["--database-url", "postgres://h/db?sslmode=sometimes"],
            ["--peer", "registry"],
            ["--log-level", "loud"],
            ["--actor-secret", "too-short"],
            ["--actor-secret-file", "/nonexistent/actor.secret"],
        ])
    func rejects(arguments: [String]) {
        #expect(throws: ConfigError.self) {
            try ServiceConfig.load(service: "training", defaultPort: 1, reader: ConfigReader(arguments: arguments, environment: [:]))
        }
    }
}
