import Foundation
import SlipwayLocalRuntime
import SlipwayTestSupport
import Testing

/// `slipway up --replicas 2`: two processes of each domain service and two gateways on one machine, against the same
/// databases and broker. `slipway bench replicas` runs a steady workload through either gateway — datasets, API keys,
/// external runs completed through their webhooks (registered), an endpoint deployed and rolled back, `once`
/// schedules whose slots come during the kills — and predictions through serving-router, while one replica of each
/// service, and a gateway, is killed with SIGKILL in turn (the supervisor starts it again). Nothing acknowledged may
/// be lost, nothing applied twice, every slot fires once, and predictions keep being answered.
@Suite("slipway up --replicas 2", .serialized, .timeLimit(.minutes(8)))
struct ReplicaKillTests {
    @Test("one replica of each service and a gateway killed -9 in turn: nothing acknowledged is lost or applied twice, predictions go on")
    func killOneReplicaOfEach() async throws {
        let helper = UpCommandTests()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("slipway-replicas-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let slipway = UpCommandTests.infrastructure.executable("slipway").path
        let (gatewayPort, routerPort, routerAdminPort) = (try freeTCPPort(), try freeTCPPort(), try freeTCPPort())
        let logFile = directory.appendingPathComponent("up.out")
        FileManager.default.createFile(atPath: logFile.path, contents: nil)
        let dataDir = ["--data-dir", directory.appendingPathComponent(".slipway").path]
        let up = try helper.startUp(
            slipway: slipway,
            arguments: ["up"] + dataDir + [
                "--replicas", "2", "--gateway-port", "\(gatewayPort)", "--router-port", "\(routerPort)", "--router-admin-port",
                "\(routerAdminPort)", "--log-level", "warning",
            ], directory: directory, log: logFile)
        defer { helper.leaveNothingRunning(slipway: slipway, dataDir: dataDir[1]) }
        try await helper.eventually(timeout: .seconds(180), "every replica ready", log: logFile) {
            try helper.run(slipway, ["status"] + dataDir).status == 0
        }
        let stateFile = directory.appendingPathComponent(".slipway/up.json")
        func processes() throws -> [UpState.ProcessEntry] { try UpState.read(from: stateFile).processes }
        let names = Set(try processes().map(\.name))
        for service in ["training", "registry", "schedule", "deploy", "testing", "metrics"] {
            #expect(names.isSuperset(of: ["\(service)-svc", "\(service)-svc-2"]), "\(names)")
        }
        #expect(names.isSuperset(of: ["gateway", "gateway-2"]), "\(names)")

        // A model (trained, registered), then `slipway bench replicas`: the workload through the CLI's client (either
        // gateway) and serving-router while one replica of each service and a gateway is killed -9 in turn.
        let trained = try helper.run(
            slipway, ["train", "--demo", "--customers", "500", "--products", "200", "--transactions", "20000", "--epochs", "3"], in: directory)
        #expect(trained.status == 0 && trained.output.contains("registered b2b-retrieval v1"), "\(trained.output)")
        let bench = try helper.run(slipway, ["bench", "replicas", "--router", "http://127.0.0.1:\(routerPort)"], in: directory)
        #expect(bench.status == 0, "\(bench.output)")
        print(bench.output)
        let result = try #require(bench.output.split(separator: "\n").last { $0.hasPrefix("RESULT ") }, "\(bench.output)")
        var figures: [String: Int] = [:]
        for pair in result.dropFirst("RESULT ".count).split(separator: " ") {
            let parts = pair.split(separator: "=")
            if parts.count == 2 { figures[String(parts[0])] = Int(parts[1]) }
        }
        #expect(figures["lost"] == 0 && figures["duplicates"] == 0, "\(result)")
        #expect(figures["predictions_failed"] == 0 && (figures["predictions"] ?? 0) > 100, "\(result)")
        #expect((figures["commands_acknowledged"] ?? 0) >= 40, "the workload ran: \(result)")
        #expect((figures["events"] ?? 0) >= (figures["commands_acknowledged"] ?? .max), "every acknowledged command is an event: \(result)")
        // The lifecycle went on through the kills: runs registered, deployments served and were rolled back, and every
        // schedule slot started one run.
        #expect((figures["runs_registered"] ?? 0) >= 5 && (figures["rollbacks"] ?? 0) >= 3, "\(result)")
        #expect(figures["deployments_failed"] == 0, "\(result)")
        #expect(figures["slots"] == 8 && figures["slots_fired_once"] == 8, "\(result)")
        #expect(try processes().filter { $0.restarts > 0 }.count >= 8, "the supervisor restarted every killed replica")
        // The CLI goes on through the other gateway while one is down.
        let gatewayTwo = try #require(try processes().first { $0.name == "gateway-2" }?.pid)
        kill(gatewayTwo, SIGKILL)
        for _ in 0..<3 {
            let whoami = try helper.run(slipway, ["whoami"], in: directory)
            #expect(whoami.status == 0 && whoami.output.hasPrefix("admin"), "\(whoami.output)")
        }
        // Every read model rebuilds from its event log into exactly the live rows: no event was applied twice.
        for service in ["training", "registry", "deploy", "schedule", "testing", "metrics"] {
            let replay = try helper.run(slipway, ["events", "replay", "--service", service, "--verify"], in: directory)
            #expect(replay.status == 0, "\(service): \(replay.output)")
        }

        let down = try helper.run(slipway, ["down"] + dataDir)
        #expect(down.status == 0, "\(down.output)")
        up.waitUntilExit()
        #expect(ProcessInspection.processes(taggedWith: dataDir[1]).isEmpty, "processes left running")
    }
}
