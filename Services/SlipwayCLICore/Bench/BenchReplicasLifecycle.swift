import Foundation

extension BenchReplicasCommand {
    /// The lifecycle part of `slipway bench replicas`' workload: external runs that register versions, an endpoint
    /// deployed and rolled back over and over, and `once` schedules whose slots come while replicas are killed.
    struct Lifecycle: Sendable {
        let api: APIClient
        /// The model the external runs train (its versions are what the endpoint goes between).
        let runModel: String
        let endpoint: String
        let bundle: URL
        /// The first serves the endpoint; the second is deployed and rolled back.
        var versions: [Int] = []

        /// `bench api`'s catalog entries and bundle, two versions from two external runs, and the first serving
        /// `endpoint`.
        static func prepare(_ api: APIClient, runModel: String, endpoint: String, workDir: URL) async throws -> Lifecycle {
            let setup = try await Bench.prepare(api, workDir: workDir)
            var lifecycle = Lifecycle(api: api, runModel: runModel, endpoint: endpoint, bundle: setup.bundle)
            for _ in 0..<2 {
                let (status, json) = try await lifecycle.createRun()
                guard let run = Self.createdRun(status, json) else { throw api.apiError(status, json, "/api/training-runs") }
                let (completed, answer) = try await lifecycle.complete(run)
                guard (200..<300).contains(completed) else { throw api.apiError(completed, answer, run.webhook + "completed") }
            }
            let deadline = ContinuousClock.now.advanced(by: .seconds(60))
            while lifecycle.versions.count < 2 {
                guard ContinuousClock.now < deadline else {
                    throw ValidationErrorMessage("the registry did not list two versions of \(runModel) within 60 s")
                }
                try await Task.sleep(for: .milliseconds(200))
                lifecycle.versions = try await lifecycle.registeredVersions().map(\.version).sorted()
            }
            let deployment = try await api.deploy(
                runModel,
                ["version": lifecycle.versions[0], "endpoint": endpoint, "strategy": "immediate", "force": true, "reason": "bench replicas"])
            say(try await waitForOutcome(api, endpoint: endpoint, deployment: deployment["id"] as? String ?? "", timeout: .seconds(300)))
            return lifecycle
        }

        // MARK: External runs

        struct CreatedRun {
            let id: String
            let webhook: String
            let token: String
        }

        func createRun() async throws -> (UInt, [String: Any]) {
            try await api.call(
                .POST, "/api/training-runs",
                [
                    "name": runModel, "model_type": "retrieval", "dataset_id": "bench-api", "feature_config_id": "bench-api",
                    "model_config_id": "bench-api", "executor": "external", "submit": true,
                ])
        }

        static func createdRun(_ status: UInt, _ json: [String: Any]) -> CreatedRun? {
            guard (200..<300).contains(status), let id = (json["training_run"] as? [String: Any])?["id"] as? String,
                let webhook = json["webhook"] as? [String: Any], let url = webhook["url"] as? String, let token = webhook["token"] as? String
            else { return nil }
            return CreatedRun(id: id, webhook: url, token: token)
        }

        /// The trainer's last call: metrics good enough to be blessed, and the bundle, which the webhook loads.
        func complete(_ run: CreatedRun) async throws -> (UInt, [String: Any]) {
            let body: [String: Any] = [
                "metrics": ["recall_at_10": 0.21, "recall_at_100": 0.43, "loss": 3.9], "artifact_uri": bundle.path, "duration_seconds": 1.0,
            ]
            let (status, bytes) = try await httpCall(
                .POST, api.gateways, run.webhook + "completed", body: Array(try JSONSerialization.data(withJSONObject: body)),
                headers: ["Authorization": "Bearer \(run.token)"])
            return (status, (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any] ?? [:])
        }

        /// An external run created and completed through its webhook, one after another, until stopped.
        func runs(tally: Tally) async throws {
            while !tally.stopped {
                do {
                    let (status, json) = try await createRun()
                    if let run = Self.createdRun(status, json) {
                        tally.acknowledge(\.runs, run.id)
                        let (completed, answer) = try await complete(run)
                        if (200..<300).contains(completed) {
                            tally.acknowledge(\.completedRuns, run.id)
                        } else {
                            tally.failed("completed \(run.id): \(completed) \(answer)")
                        }
                    } else {
                        tally.failed("POST /api/training-runs: \(status) \(json)")
                    }
                } catch {
                    tally.failed("external run: \(error)")
                }
                try await Task.sleep(for: .milliseconds(200))
            }
        }

        /// The model's versions with the run each came from (none while the registry has not yet registered the first).
        func registeredVersions() async throws -> [(version: Int, run: String)] {
            let path = "/api/registered-models/\(runModel)/versions"
            let (status, json) = try await api.call(.GET, path)
            if status == 404 { return [] }
            guard status == 200 else { throw api.apiError(status, json, path) }
            let list = json["versions"] as? [[String: Any]] ?? []
            return list.compactMap { version in
                (version["version"] as? Int).map { ($0, version["source_run_id"] as? String ?? "") }
            }
        }

        // MARK: Deploy and roll back

        /// The second version deployed (immediate), and once it serves, rolled back to the first — instant while the
        /// first's revision is warm — until stopped.
        func deployAndRollBack(tally: Tally) async throws {
            while !tally.stopped {
                do {
                    let (status, json) = try await api.call(
                        .POST, "/api/models/\(runModel)/deployments",
                        ["version": versions[1], "endpoint": endpoint, "strategy": "immediate", "force": true, "reason": "bench replicas"])
                    guard (200..<300).contains(status), let id = json["id"] as? String else {
                        tally.failed("deploy v\(versions[1]) to \(endpoint): \(status) \(json)")
                        try await Task.sleep(for: .milliseconds(500))
                        continue
                    }
                    tally.acknowledge(\.deployments, id)
                    guard try await ended(id) == "active" else { continue }  // a failed one is counted at the end
                    let (rolled, answer) = try await api.call(.POST, "/api/endpoints/\(endpoint)/rollback", ["reason": "bench replicas"])
                    if rolled == 200, answer["instant"] as? Bool == true {
                        tally.acknowledge(\.rolledBack, id)
                    } else if rolled == 202, let redeployment = answer["id"] as? String {
                        tally.acknowledge(\.deployments, redeployment)
                        _ = try await ended(redeployment)
                    } else {
                        tally.failed("roll \(endpoint) back from \(id): \(rolled) \(answer)")
                    }
                } catch {
                    tally.failed("deploy and roll back \(endpoint): \(error)")
                }
                try await Task.sleep(for: .milliseconds(200))
            }
        }

        static let endedStatuses: Set<String> = ["active", "inactive", "failed", "rolled_back", "undeployed"]

        /// The deployment's status once it has ended (at most 120 s; a call the kills broke is made again).
        func ended(_ id: String) async throws -> String {
            let deadline = ContinuousClock.now.advanced(by: .seconds(120))
            var status = ""
            while ContinuousClock.now < deadline {
                if let (code, json) = try? await api.call(.GET, "/api/deployments/\(id)"), code == 200 {
                    status = json["status"] as? String ?? ""
                    if Self.endedStatuses.contains(status) { return status }
                }
                try await Task.sleep(for: .milliseconds(250))
            }
            return status
        }

        // MARK: Schedules

        struct Slot {
            let schedule: String
            let model: String
            let at: Date
        }

        /// A `once` schedule of a model of its own (one schedule a model) whose runs report from outside: a slot
        /// starts an external run and nothing trains here.
        func schedule(model: String, at: Date) async throws -> Slot {
            let answer = try await api.expect(
                .POST, "/api/training/schedules",
                [
                    "model_name": model, "name": model, "description": "slipway bench replicas: one slot during the kills",
                    "dataset_id": "bench-api", "feature_config_id": "bench-api", "model_config_id": "bench-api",
                    "training_config": ["executor": "external"], "schedule_type": "once",
                    "scheduled_datetime": ISO8601DateFormatter().string(from: at), "catchup_window_seconds": 600,
                ])
            guard let id = (answer["schedule"] as? [String: Any])?["id"] as? String else {
                throw ValidationErrorMessage("POST /api/training/schedules answered without the schedule: \(answer)")
            }
            return Slot(schedule: id, model: model, at: at)
        }

        /// What became of a slot: how often schedule-svc's ledger says it started, and how many runs training-svc has.
        struct Fired {
            var started = 0
            var outcomes: [String] = []
            var runs = 0
        }

        func fired(_ slot: Slot) async throws -> Fired {
            let ledger = try await api.expect(.GET, "/api/training/schedules/\(slot.schedule)")["ledger"] as? [[String: Any]] ?? []
            let outcomes = ledger.compactMap { $0["outcome"] as? String }
            let runs = try await api.expect(.GET, "/api/models/\(slot.model)/training-runs")
            let total = (runs["pagination"] as? [String: Any])?["total"] as? Int ?? (runs["training_runs"] as? [Any])?.count ?? 0
            return Fired(started: outcomes.filter { $0.hasPrefix("started") }.count, outcomes: outcomes, runs: total)
        }

        // MARK: Counting

        /// Every acknowledged run, completion, deployment and rollback checked against what the services show.
        func count(_ seen: Tally.Acknowledged, into count: inout Count) async throws {
            for id in seen.runs where try await api.call(.GET, "/api/training-runs/\(id)").status != 200 {
                count.lost("training run \(id)")
            }
            let completed = seen.completedRuns
            // The registry registers from training-svc's events: allow it to catch up.
            var versions = try await registeredVersions()
            let deadline = ContinuousClock.now.advanced(by: .seconds(60))
            while Set(versions.map(\.run)).intersection(completed).count < completed.count, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(500))
                versions = try await registeredVersions()
            }
            let byRun = Dictionary(grouping: versions, by: \.run)
            for id in completed {
                let status = (try await api.expect(.GET, "/api/training-runs/\(id)"))["status"] as? String ?? ""
                if status != "completed" { count.lost("training run \(id) was completed, and is \(status)") }
                switch byRun[id]?.count ?? 0 {
                case 0: count.lost("training run \(id) was completed, and has no version")
                case 1: count.registered += 1
                case let copies: count.duplicate("training run \(id) registered \(copies) times")
                }
            }
            for id in seen.deployments {
                let (status, json) = try await api.call(.GET, "/api/deployments/\(id)")
                guard status == 200 else {
                    count.lost("deployment \(id)")
                    continue
                }
                let state = json["status"] as? String ?? ""
                if !Self.endedStatuses.contains(state) || state == "failed" {
                    count.failedDeployments += 1
                    count.problems.append("deployment \(id) is \(state): \(json["error"] as? String ?? "")")
                }
            }
            for id in seen.rolledBack {
                let state = (try await api.expect(.GET, "/api/deployments/\(id)"))["status"] as? String ?? ""
                if state != "rolled_back" { count.lost("the rollback from deployment \(id), which is \(state)") }
            }
        }

        /// Waits until every slot has come and started its run (up to 60 s after the last), then counts each slot's
        /// starts and runs; returns how many fired exactly once.
        func countSlots(_ slots: [Slot], into count: inout Count) async throws -> Int {
            let deadline = (slots.map(\.at).max() ?? Date()).addingTimeInterval(60)
            var seen: [Fired] = []
            repeat {
                seen = []
                for slot in slots { seen.append(try await fired(slot)) }
                if seen.allSatisfy({ $0.started > 0 && $0.runs > 0 }) { break }
                try await Task.sleep(for: .milliseconds(500))
            } while Date() < deadline
            var once = 0
            for (slot, fired) in zip(slots, seen) {
                switch (fired.started, fired.runs) {
                case (1, 1): once += 1
                case (0, _): count.lost("the slot at \(slot.at) of \(slot.model) never started (ledger: \(fired.outcomes))")
                case (1, 0): count.lost("the slot at \(slot.at) of \(slot.model) started no run")
                default: count.duplicate("the slot at \(slot.at) of \(slot.model): started \(fired.started) times, \(fired.runs) runs")
                }
            }
            return once
        }
    }
}
