import Foundation
import PostgresNIO
import SlipwayLocalRuntime
import SlipwayModelBundle
import SlipwayPlatform
import SlipwayTestSupport
import Testing

/// Every executable, started as `slipway up` starts it (on a dev broker of its own: the services publish
/// on the platform's real topics, which must not reach other suites' projections) and kept lightly busy,
/// ends on SIGTERM with
/// status 0 within `ShutdownBudget.graceful` — every loop honours graceful shutdown, none waits for the
/// escalation to cancellation; an event-sourced service leaves its outbox empty (the relay publishes what
/// was committed before it stops).
@Suite("SIGTERM", .serialized, .timeLimit(.minutes(5)))
struct ShutdownTests {
    let infrastructure = TestInfrastructure.shared

    @Test("a domain service exits 0 within the bound, its outbox drained", arguments: ServiceDirectory.domainServices.map(\.rawValue))
    func domainService(_ service: String) async throws {
        let database = try await infrastructure.freshDatabase("shutdown_\(service)")
        let port = try freeTCPPort()
        let work = try scratch(service)
        let broker = try await infrastructure.ownBroker(in: work)
        defer { withExtendedLifetime(broker.process) {} }
        var arguments =
            [
                "--host", "127.0.0.1", "--port", "\(port)", "--database-url", "\(database)",
                "--kafka-brokers", broker.address, "--log-level", "warning",
            ] + TestInfrastructure.isolatedPeerArguments
        switch service {
        case "training": arguments += ["--artifact-root", work.appendingPathComponent("artifacts").path]
        case "deploy": arguments += ["--serving-root", work.appendingPathComponent("serving").path, "--stop-revisions-on-exit", "true"]
        default: break
        }
        let process = try Launched(infrastructure.executable("\(service)-svc"), arguments, log: work.appendingPathComponent("\(service).log"))
        let api = APITestClient(baseURL: "http://127.0.0.1:\(port)")
        try await process.waitUntil("\(service)-svc ready") { (try? await api.get("/readyz").status) == .ok }

        // Light load: reads, and for the services whose API writes without peers, commands (events in the outbox).
        let writes: (path: String, body: @Sendable (Int) -> String)? =
            switch service {
            case "registry": ("/api/registered-models", { #"{"name": "model-\#($0)", "model_type": "retrieval"}"# })
            case "training": ("/api/datasets", { #"{"name": "ds-\#($0)", "transactions": "/nowhere/transactions-\#($0).csv"}"# })
            default: nil
            }
        // One write answered before the signal, so the outbox has something to drain even when a busy machine answers
        // none of the load's within its half second.
        if let writes {
            let first = try await api.post(writes.path, writes.body(0))
            #expect(first.status.code < 300, "\(service)-svc: \(first.text)")
        }
        let elapsed = try await process.terminate(underLoad: {
            var index = 0
            while !Task.isCancelled {
                index += 1
                _ = try? await api.get("/healthz")
                if let writes { _ = try? await api.post(writes.path, writes.body(index)) }
            }
        })
        #expect(process.exitStatus == 0, "\(service)-svc: \(process.logTail)")
        #expect(elapsed < ShutdownBudget.graceful, "\(service)-svc took \(elapsed) to stop")

        try await withPostgres(database) { client in
            let rows = try await client.query(
                "SELECT (SELECT count(*) FROM slipway.events), (SELECT count(*) FROM slipway.outbox)", logger: TestInfrastructure.logger)
            for try await (events, outbox) in rows.decode((Int64, Int64).self) {
                if writes != nil { #expect(events > 0, "\(service)-svc: the load wrote no events") }
                #expect(outbox == 0, "\(service)-svc left \(outbox) unpublished events")
            }
        }
    }

    @Test("the gateway exits 0 within the bound, its outbox drained")
    func gateway() async throws {
        let database = try await infrastructure.freshDatabase("shutdown_gateway")
        let port = try freeTCPPort()
        let work = try scratch("gateway")
        let broker = try await infrastructure.ownBroker(in: work)
        defer { withExtendedLifetime(broker.process) {} }
        let tokenFile = work.appendingPathComponent("admin-token")
        let process = try Launched(
            infrastructure.executable("gateway"),
            [
                "--host", "127.0.0.1", "--port", "\(port)", "--database-url", "\(database)", "--kafka-brokers", broker.address,
                "--bootstrap-token-file", tokenFile.path, "--log-level", "warning",
            ] + TestInfrastructure.isolatedPeerArguments,
            log: work.appendingPathComponent("gateway.log"))
        let probe = APITestClient(baseURL: "http://127.0.0.1:\(port)")
        try await process.waitUntil("gateway ready") { (try? await probe.get("/readyz").status) == .ok }
        let token = try String(contentsOf: tokenFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let api = APITestClient(baseURL: "http://127.0.0.1:\(port)", headers: [.authorization: "Bearer \(token)"])
        // Reads forwarded to a service that is not there, and writes of its own (tokens: events in the outbox).
        let elapsed = try await process.terminate(underLoad: {
            var index = 0
            while !Task.isCancelled {
                index += 1
                _ = try? await api.get("/api/registered-models")
                _ = try? await api.post("/api/tokens", #"{"name": "t\#(index)"}"#)
            }
        })
        #expect(process.exitStatus == 0, "gateway: \(process.logTail)")
        #expect(elapsed < ShutdownBudget.graceful, "took \(elapsed) to stop")
        try await withPostgres(database) { client in
            let rows = try await client.query(
                "SELECT (SELECT count(*) FROM slipway.events), (SELECT count(*) FROM slipway.outbox)", logger: TestInfrastructure.logger)
            for try await (events, outbox) in rows.decode((Int64, Int64).self) {
                #expect(events > 2, "the load wrote no events")
                #expect(outbox == 0, "the gateway left \(outbox) unpublished events")
            }
        }
    }

    @Test("serving-router exits 0 within the bound, even with deploy-svc unreachable")
    func servingRouter() async throws {
        let (port, adminPort) = (try freeTCPPort(), try freeTCPPort())
        let work = try scratch("router")
        let broker = try await infrastructure.ownBroker(in: work)
        defer { withExtendedLifetime(broker.process) {} }
        let process = try Launched(
            infrastructure.executable("serving-router"),
            [
                "--host", "127.0.0.1", "--port", "\(port)", "--admin-port", "\(adminPort)", "--deploy-url", "http://127.0.0.1:9",
                "--kafka-brokers", broker.address, "--log-level", "error",
            ],
            log: work.appendingPathComponent("router.log"))
        let admin = APITestClient(baseURL: "http://127.0.0.1:\(adminPort)")
        try await process.waitUntil("router admin listening") { (try? await admin.get("/health")) != nil }
        let api = APITestClient(baseURL: "http://127.0.0.1:\(port)")
        let elapsed = try await process.terminate(underLoad: {
            while !Task.isCancelled { _ = try? await api.post("/shop/recommend", #"{"customer_id": "C1"}"#) }
        })
        #expect(process.exitStatus == 0, "serving-router: \(process.logTail)")
        #expect(elapsed < ShutdownBudget.graceful, "took \(elapsed) to stop")
    }

    @Test("model-server exits 0 within the bound while answering")
    func modelServer() async throws {
        let work = try scratch("model-server")
        let bundle = work.appendingPathComponent("bundle")
        try SyntheticBundle.make(candidates: 500, dim: 16, customers: 100).write(to: bundle)
        let port = try freeTCPPort()
        let process = try Launched(
            infrastructure.executable("model-server"),
            ["--bundle", bundle.path, "--port", "\(port)", "--max-batch-size", "8", "--log-level", "warning"],
            log: work.appendingPathComponent("model-server.log"))
        let api = APITestClient(baseURL: "http://127.0.0.1:\(port)")
        try await process.waitUntil("model-server healthy") { (try? await api.get("/health").status) == .ok }
        let elapsed = try await process.terminate(underLoad: {
            while !Task.isCancelled { _ = try? await api.post("/recommend", #"{"customer_id": "C1", "top_k": 5}"#) }
        })
        #expect(process.exitStatus == 0, "model-server: \(process.logTail)")
        #expect(elapsed < ShutdownBudget.graceful, "took \(elapsed) to stop")
    }

    func scratch(_ name: String) throws -> URL {
        let directory = URL(fileURLWithPath: infrastructure.workDirectory).appendingPathComponent("shutdown-\(name)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }
}
