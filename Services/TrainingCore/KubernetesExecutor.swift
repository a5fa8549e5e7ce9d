import Foundation
import Logging
import NIOHTTP1
import ServiceLifecycle
import SlipwayContracts
import SlipwayEventSourcing
import SlipwayPlatform
import Synchronization

/// The `kubernetes` executor: each submitted run is a Job of one Pod running the trainer command in `image`, with the
/// artifacts volume mounted at the artifact root (where the spec is written and the bundle goes), the run's webhook URL
/// in its env and its webhook token from a Secret of its own. The Pod's log, read through the API as it is written, is
/// the trainer's progress: the same lines a local trainer prints, turned into the run's commands by `TrainerReport`
/// and kept as the run's `run.log`.
///
/// One replica acts (the `training-kubernetes-executor` leadership): it creates the Jobs of submitted runs, follows
/// the log of every running one, and deletes what ended runs leave. Jobs outlive training-svc: when it restarts, or
/// another replica takes over, the new leader follows every running run's log again from its start (the run's
/// commands are idempotent, so lines read twice change nothing). Cancelling a run deletes its Job (its Pod gets
/// SIGTERM) and its Secret, from whichever replica took the request.
public final class KubernetesExecutor: Service {
    public struct Settings: Sendable, Equatable {
        public var connection: KubernetesAPI.Connection
        /// The image the trainer runs in (Slipway's own: it holds `slipway-trainer`).
        public var image: String
        /// The PersistentVolumeClaim holding the artifacts, mounted read-write at the artifact root.
        public var artifactsClaim: String
        /// How long Kubernetes keeps a finished Job (and its Pod's log) before deleting it.
        public var jobTTLSeconds: Int

        public init(connection: KubernetesAPI.Connection, image: String, artifactsClaim: String, jobTTLSeconds: Int = 86_400) {
            self.connection = connection
            self.image = image
            self.artifactsClaim = artifactsClaim
            self.jobTTLSeconds = jobTTLSeconds
        }
    }

    static let managedBy = "slipway-training-svc"
    static let runAnnotation = "slipway.io/run-id"
    /// How long a submitted run waits for an API that does not answer before it fails.
    static let unreachableGrace = Duration.seconds(60)

    let settings: TrainingSettings
    let kubernetes: Settings
    let environment: ServiceEnvironment
    let queries: TrainingQueries
    let api: KubernetesAPI
    let leadership = Leadership(name: "training-kubernetes-executor")
    /// Runs whose log this replica follows.
    private let following = Mutex<Set<String>>([])
    /// When a submitted run's Job could first not be created for want of an answer.
    private let unreachableSince = Mutex<[String: ContinuousClock.Instant]>([:])
    private let nudged = WakeSignal()

    public init(settings: TrainingSettings, kubernetes: Settings, environment: ServiceEnvironment) {
        self.settings = settings
        self.kubernetes = kubernetes
        self.environment = environment
        queries = TrainingQueries(postgres: environment.postgres, logger: environment.logger)
        api = KubernetesAPI(kubernetes.connection, httpClient: environment.httpClient)
    }

    var logger: Logger { environment.logger }

    /// A run was submitted here: look now rather than at the next poll.
    func nudge() { nudged.signal() }

    public func run() async throws {
        await leadership.run(postgres: environment.postgres, logger: logger) { [self] in try await control() }
    }

    /// The loop while this replica leads: submitted runs become Jobs, running ones are followed, ended ones cleaned
    /// up every few seconds. Followers are child tasks: they end with it (the Jobs run on).
    func control() async throws {
        var lastSweep = ContinuousClock.now - .seconds(60)
        await withDiscardingTaskGroup { group in
            while !Task.isCancelled && !Task.isShuttingDownGracefully {
                do {
                    for runID in try await queries.queuedRuns(executor: Executors.kubernetes, limit: 50) { await submit(runID) }
                    for (runID, jobID) in try await queries.runningRuns(executor: Executors.kubernetes, jobPrefix: jobPrefix) {
                        guard following.withLock({ $0.insert(runID).inserted }) else { continue }
                        let job = String(jobID.dropFirst(jobPrefix.count))
                        group.addTask {
                            defer { _ = self.following.withLock { $0.remove(runID) } }
                            await self.follow(runID: runID, job: job)
                        }
                    }
                    if ContinuousClock.now - lastSweep >= .seconds(5) {
                        lastSweep = .now
                        try await sweep()
                    }
                } catch {
                    logger.warning("kubernetes executor step failed", metadata: [LogKey.error: "\(error)"])
                }
                await nudged.wait(upTo: .milliseconds(500))
            }
            group.cancelAll()
        }
        try Task.checkCancellation()
    }

    /// A run's job id: `kubernetes:<namespace>/<Job name>`.
    var jobPrefix: String { "kubernetes:\(api.namespace)/" }
    static func jobName(_ runID: String) -> String { KubernetesAPI.objectName("run-", runID) }

    func send(_ runID: String, _ command: TrainingRunDecider.Command) async -> Bool {
        do {
            try await environment.execute(
                TrainingRunDecider.self, aggregateID: runID, command: command,
                metadata: CommandMetadata(causationID: runID, actor: "training-executor"))
            return true
        } catch {
            logger.info("trainer report not applied", metadata: [LogKey.runID: "\(runID)", LogKey.error: "\(error)"])
            return false
        }
    }

    // MARK: - Submitting

    /// Writes the run's spec, creates its Secret and Job (an existing one, from a leader that stopped before it could
    /// record the start, is taken as it is), then records the start. A Job the API refuses fails the run with the
    /// API's message; an API that does not answer is tried again until `unreachableGrace` has passed.
    func submit(_ runID: String) async {
        let name = Self.jobName(runID)
        do {
            let prepared = try await PreparedRun.prepare(runID: runID, settings: settings, queries: queries)
            for (group, resource, object) in [("v1", "secrets", secret(prepared, name)), ("batch/v1", "jobs", job(prepared, name))] {
                let created = try await api.call(.POST, api.path(group, resource), body: object)
                guard created.status == 201 || created.status == 409 else {
                    throw created.status >= 500
                        ? Unanswered(message: created.message) : TrainerLaunchError(message: "creating the \(resource) \(name): \(created.message)")
                }
            }
        } catch  where Self.isUnanswered(error) && !unreachableTooLong(runID) {
            logger.warning("kubernetes API unavailable; the run waits", metadata: [LogKey.runID: "\(runID)", LogKey.error: "\(error)"])
            return
        } catch {
            _ = unreachableSince.withLock { $0.removeValue(forKey: runID) }
            guard await send(runID, .start(jobID: jobPrefix + name)) else { return }
            _ = await send(runID, .fail(.init(stage: TrainingStage.compile.apiName, error: "\(error)")))
            await delete(runID: runID)
            return
        }
        _ = unreachableSince.withLock { $0.removeValue(forKey: runID) }
        logger.info("created the run's Job", metadata: [LogKey.runID: "\(runID)", LogKey.kubernetesName: "\(name)"])
        // Refused when the run was cancelled meanwhile: then its Job goes at once.
        if !(await send(runID, .start(jobID: jobPrefix + name))) { await delete(runID: runID) }
    }

    /// An answer the API did not give (5xx): worth waiting for.
    struct Unanswered: Error, CustomStringConvertible {
        let message: String
        var description: String { "the Kubernetes API did not answer: \(message)" }
    }

    /// A connection that failed or timed out, a 5xx, a database error: not an answer refusing the request.
    static func isUnanswered(_ error: any Error) -> Bool { !(error is TrainerLaunchError) && !(error is KubernetesAPI.Refused) }

    /// Marks the run's first unanswered attempt; true once the grace has passed since.
    func unreachableTooLong(_ runID: String) -> Bool {
        let now = ContinuousClock.now
        let since = unreachableSince.withLock { $0[runID, default: now] }
        unreachableSince.withLock { $0[runID] = since }
        return now - since >= Self.unreachableGrace
    }

    func labels(_ runID: String) -> [String: String] {
        [
            "app.kubernetes.io/name": "slipway-trainer", "app.kubernetes.io/managed-by": Self.managedBy,
            "slipway.io/run": KubernetesAPI.objectName("", runID),
        ]
    }

    func secret(_ prepared: PreparedRun, _ name: String) -> [String: Any] {
        [
            "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": [
                "name": name, "namespace": api.namespace, "labels": labels(prepared.runID), "annotations": [Self.runAnnotation: prepared.runID],
            ] as [String: Any],
            "data": ["token": Data(prepared.token.utf8).base64EncodedString()],
        ]
    }

    /// One Pod, never retried (a run is re-run on purpose, as a new run), kept `jobTTLSeconds` after it ends.
    func job(_ prepared: PreparedRun, _ name: String) -> [String: Any] {
        let arguments = prepared.arguments(settings)
        var env: [[String: Any]] = prepared.environment(settings).sorted { $0.key < $1.key }.map { ["name": $0.key, "value": $0.value] }
        env.append(["name": "SLIPWAY_RUN_TOKEN", "valueFrom": ["secretKeyRef": ["name": name, "key": "token"]]])
        let container: [String: Any] = [
            "name": "trainer", "image": kubernetes.image, "command": Array(arguments.prefix(1)), "args": Array(arguments.dropFirst()),
            "env": env,
            // /tmp first: an artifact root under /tmp is mounted over it, not hidden by it.
            "volumeMounts": [["name": "tmp", "mountPath": "/tmp"], ["name": "artifacts", "mountPath": settings.artifactRoot.path]],
            "securityContext": ["allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true, "capabilities": ["drop": ["ALL"]]]
                as [String: Any],
        ]
        let labels = labels(prepared.runID)
        return [
            "apiVersion": "batch/v1", "kind": "Job",
            "metadata": [
                "name": name, "namespace": api.namespace, "labels": labels, "annotations": [Self.runAnnotation: prepared.runID],
            ] as [String: Any],
            "spec": [
                "backoffLimit": 0, "ttlSecondsAfterFinished": kubernetes.jobTTLSeconds,
                "template": [
                    // Internal: it reaches training-svc's webhooks; nothing reaches it.
                    "metadata": ["labels": labels.merging(["slipway.io/exposure": "internal"]) { first, _ in first }],
                    "spec": [
                        "restartPolicy": "Never", "automountServiceAccountToken": false,
                        "securityContext": [
                            "runAsNonRoot": true, "runAsUser": 10001, "runAsGroup": 10001, "fsGroup": 10001,
                            "seccompProfile": ["type": "RuntimeDefault"],
                        ] as [String: Any],
                        "containers": [container],
                        "volumes": [
                            ["name": "artifacts", "persistentVolumeClaim": ["claimName": kubernetes.artifactsClaim]],
                            ["name": "tmp", "emptyDir": [String: Any]()],
                        ],
                    ] as [String: Any],
                ] as [String: Any],
            ] as [String: Any],
        ]
    }

    // MARK: - Following

    /// Reads the run's Pod log from its start as it is written: each line goes to `run.log` and, when it is one of
    /// the trainer's reports, becomes the run's command. When the log ends with the container, the Job's status says
    /// how it ended; a trainer that ended without reporting a result fails the run (with its log's tail).
    func follow(runID: String, job: String) async {
        let artifacts = settings.artifactDirectory(for: runID)
        let logFile = artifacts.appendingPathComponent("run.log")
        while !Task.isCancelled {
            do {
                let jobAnswer = try await api.call(.GET, api.path("batch/v1", "jobs", job))
                if jobAnswer.status == 404 {
                    _ = await send(runID, .fail(.init(error: "the run's Job \(job) was deleted while the run was in progress")))
                    return
                }
                let started = Self.date(jobAnswer.objectStatus["startTime"]) ?? Date()
                let pods = try await api.call(.GET, api.path("v1", "pods", labels: ["job-name": job]))
                guard let pod = (pods.items.first?["metadata"] as? [String: Any])?["name"] as? String else {
                    try await Task.sleep(for: .seconds(1))
                    continue
                }
                let lines: AsyncThrowingStream<String, any Error>
                do {
                    lines = try await api.lines(api.path("v1", "pods", pod) + "/log?follow=true")
                } catch let refused as KubernetesAPI.Refused where refused.status == 400 {
                    // Not running yet (pulling the image, waiting for its Secret): try again.
                    try await Task.sleep(for: .seconds(1))
                    continue
                }
                // Read from the start each time: the file is rewritten with the whole log.
                FileManager.default.createFile(atPath: logFile.path, contents: nil)
                let log = try FileHandle(forWritingTo: logFile)
                defer { try? log.close() }
                var tail = LogTail()
                var reader = TrainerReport(artifacts: artifacts)
                var finished = false
                for try await line in lines {
                    log.write(Data((line + "\n").utf8))
                    tail.append(line)
                    let elapsedMs = Int64(Date().timeIntervalSince(started) * 1000)
                    guard let command = reader.command(for: line, elapsedMs: elapsedMs, logTail: { tail.text }) else { continue }
                    let applied = await send(runID, command)
                    switch command {
                    case .complete, .fail: if applied { finished = true }
                    default: break
                    }
                }
                if finished { return }
                let ended = try await api.call(.GET, api.path("batch/v1", "jobs", job))
                guard
                    let outcome = ended.status == 404
                        ? "the run's Job \(job) was deleted while the run was in progress" : Self.outcome(ended.objectStatus)
                else {
                    // The stream broke while the container runs: follow again.
                    try await Task.sleep(for: .seconds(1))
                    continue
                }
                // Rejected when the run was cancelled meanwhile, which is what we want.
                _ = await send(
                    runID,
                    .fail(.init(error: outcome, logTail: tail.text, durationMs: Int64(Date().timeIntervalSince(started) * 1000))))
                return
            } catch is CancellationError {
                return
            } catch {
                logger.warning("following a run's Job failed; trying again", metadata: [LogKey.runID: "\(runID)", LogKey.error: "\(error)"])
                try? await Task.sleep(for: .seconds(2))
            }
        }
    }

    /// How a finished Job (its `status`) ended without its trainer reporting a result; nil while it runs.
    static func outcome(_ status: [String: Any]) -> String? {
        let conditions = status["conditions"] as? [[String: Any]] ?? []
        if let failed = conditions.first(where: { $0["type"] as? String == "Failed" && $0["status"] as? String == "True" }) {
            return "the trainer's Job failed: \(failed["message"] as? String ?? failed["reason"] as? String ?? "no reason given")"
        }
        if (status["succeeded"] as? Int ?? 0) >= 1 { return "the trainer exited without reporting a result" }
        if (status["failed"] as? Int ?? 0) >= 1 { return "the trainer's Job failed" }
        return nil
    }

    static func date(_ value: Any?) -> Date? {
        (value as? String).flatMap { try? Date($0, strategy: .iso8601) }
    }

    // MARK: - Ending

    /// Deletes the run's Job (its Pod gets SIGTERM) and Secret; either may be gone already.
    func delete(runID: String) async {
        let name = Self.jobName(runID)
        for (group, resource) in [("batch/v1", "jobs"), ("v1", "secrets")] {
            do {
                let answer = try await api.delete(group, resource, name)
                if ![200, 202, 404].contains(answer.status) {
                    logger.warning(
                        "could not delete a run's object",
                        metadata: [LogKey.kubernetesName: "\(resource)/\(name)", LogKey.error: "\(answer.message)"])
                }
            } catch {
                logger.warning("could not delete a run's object", metadata: [LogKey.kubernetesName: "\(resource)/\(name)", LogKey.error: "\(error)"])
            }
        }
    }

    /// What ended runs leave: the Secret of every ended run goes; the Job of a cancelled or failed one goes too (a
    /// trainer still running for it would run for nothing), a completed one's stays for its TTL.
    func sweep() async throws {
        var owners: [String: [(resource: String, name: String, active: Bool)]] = [:]
        for (group, resource) in [("batch/v1", "jobs"), ("v1", "secrets")] {
            let answer = try await api.call(.GET, api.path(group, resource, labels: ["app.kubernetes.io/managed-by": Self.managedBy]))
            guard answer.status == 200 else { throw KubernetesAPI.Refused(status: answer.status, message: answer.message) }
            for item in answer.items {
                let metadata = item["metadata"] as? [String: Any] ?? [:]
                guard let runID = (metadata["annotations"] as? [String: String])?[Self.runAnnotation], let name = metadata["name"] as? String
                else { continue }
                let active = resource == "jobs" && Self.outcome(item["status"] as? [String: Any] ?? [:]) == nil
                owners[runID, default: []].append((resource, name, active))
            }
        }
        guard !owners.isEmpty else { return }
        let ended = try await queries.endedRunStatuses(among: Array(owners.keys))
        for (runID, status) in ended {
            for object in owners[runID] ?? []
            where object.resource == "secrets" || (object.active && status != "completed" && status != "not_blessed") {
                let group = object.resource == "jobs" ? "batch/v1" : "v1"
                _ = try? await api.delete(group, object.resource, object.name)
                logger.info(
                    "deleted an ended run's object", metadata: [LogKey.runID: "\(runID)", LogKey.kubernetesName: "\(object.resource)/\(object.name)"])
            }
        }
    }
}
