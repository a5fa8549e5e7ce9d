import Foundation
import ServiceLifecycle
import SlipwayEventSourcing
import SlipwayPlatform

/// The executors this training-svc runs trainers with: always `local`, and `kubernetes` when it is the installation's
/// executor (`--executor`). New runs get the installation's executor unless they ask; a run may ask for it or for
/// `external`, not for the other one, which nothing here would start.
final class TrainerExecutors: Sendable {
    let settings: TrainingSettings
    let local: LocalExecutor
    let kubernetes: KubernetesExecutor?

    init(settings: TrainingSettings, environment: ServiceEnvironment) {
        self.settings = settings
        local = LocalExecutor(settings: settings, environment: environment)
        kubernetes = settings.kubernetes.map { KubernetesExecutor(settings: settings, kubernetes: $0, environment: environment) }
    }

    /// The workers: the local executor fails what an earlier local trainer left and runs local runs (none on a
    /// kubernetes installation, which refuses them); the kubernetes executor when configured.
    var services: [any Service] { [local] + (kubernetes.map { [$0] } ?? []) }

    /// A run's executor, as this installation can run it: 422 naming `executor` otherwise.
    func check(_ executor: String) throws {
        guard executor == settings.executor || executor == Executors.external else {
            throw CommandRejected.invalid(
                "executor", "executor \(executor) is not run here: this training-svc runs trainers with \(settings.executor) (or external)")
        }
    }

    /// A run was submitted: its artifact directory exists (the spec and token go there), and its executor looks now.
    func submitted(_ runID: String, executor: String) {
        try? FileManager.default.createDirectory(at: settings.artifactDirectory(for: runID), withIntermediateDirectories: true)
        if executor == Executors.kubernetes { kubernetes?.nudge() } else { local.nudge() }
    }

    /// A run was cancelled: its trainer ends (a local process of this replica's; a Job, whoever runs it).
    func stop(runID: String, executor: String) async {
        switch executor {
        case Executors.local: await local.stop(runID: runID)
        case Executors.kubernetes: await kubernetes?.delete(runID: runID)
        default: break
        }
    }
}
