import Foundation
import SlipwayPlatform

/// testing-svc: tests of deployed endpoints, built from the training data of the version each serves, sent through
/// serving-router as a client would, validated, timed, compared with the version before and kept as history; and
/// scheduled checks that run them every few minutes.
public enum TestingService {
    /// `now` is when scheduled checks are due; tests pass their own clock.
    public static func definition(reader: ConfigReader = ConfigReader(), now: @escaping @Sendable () -> Date = { Date() }) -> ServiceDefinition {
        ServiceDefinition(context: .testing, readModel: TestingReadModel()) { environment in
            let settings = try TestingSettings.load(reader: reader)
            let tests = EndpointTests(environment: environment, settings: settings, now: now)
            let loadTests = LoadTestRunner(tests: tests)
            return ServiceComponents(
                projections: [
                    ProjectionSubscription(
                        TestedEndpointsProjection(smokeTests: settings.smokeTestSamples > 0 ? tests : nil, now: now), from: [.deploy])
                ],
                routes: [
                    EndpointTestRoutes(environment: environment, tests: tests).collection,
                    LoadTestRoutes(environment: environment, tests: tests, runner: loadTests).collection,
                ],
                workers: [CheckRunner(tests: tests), loadTests])
        }
    }
}

/// Settings only testing-svc takes.
public struct TestingSettings: Sendable {
    /// serving-router's public address: tests go through it, the path clients take.
    public var routerURL: String
    /// serving-router's admin address: a new key is used once the router lists it.
    public var routerAdminURL: String
    /// Where testing-svc keeps its API keys (one per model, readable by the owner only).
    public var keyDirectory: URL
    /// Samples of the smoke test every activation gets; 0 turns smoke tests off.
    public var smokeTestSamples: Int

    public static func load(reader: ConfigReader) throws -> TestingSettings {
        let router = reader.string("router-url", default: "http://127.0.0.1:8081")
        guard router.hasPrefix("http://") || router.hasPrefix("https://") else {
            throw ConfigError(key: "router-url", message: "expected http://host:port, got '\(router)'")
        }
        let admin = reader.string("router-admin-url", default: "http://127.0.0.1:8082")
        guard admin.hasPrefix("http://") || admin.hasPrefix("https://") else {
            throw ConfigError(key: "router-admin-url", message: "expected http://host:port, got '\(admin)'")
        }
        let smoke = try reader.int("smoke-test-samples", default: 10)
        guard smoke == 0 || EndpointTestDecider.Limits.sampleCount.contains(smoke) else {
            throw ConfigError(key: "smoke-test-samples", message: "expected 0 (off) to 1000, got \(smoke)")
        }
        return TestingSettings(
            routerURL: router.hasSuffix("/") ? String(router.dropLast()) : router,
            routerAdminURL: admin.hasSuffix("/") ? String(admin.dropLast()) : admin,
            keyDirectory: URL(fileURLWithPath: reader.string("key-dir", default: ".slipway/testing-keys")), smokeTestSamples: smoke)
    }
}
