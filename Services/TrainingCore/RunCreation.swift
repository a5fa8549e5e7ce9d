import Foundation
import SlipwayEventSourcing
import SlipwayPlatform

/// How a run comes to exist, whoever asks (the API, a rerun, a schedule's trigger): numbered per model by this
/// process's `RunNumbers`, with its webhook token when it is submitted at once, handed to its executor.
final class RunCreation: Sendable {
    let environment: ServiceEnvironment
    let executors: TrainerExecutors
    let queries: TrainingQueries
    /// This process's numbering of runs: one per service, shared by every creation.
    let runNumbers = RunNumbers()

    init(environment: ServiceEnvironment, executors: TrainerExecutors) {
        self.environment = environment
        self.executors = executors
        queries = TrainingQueries(postgres: environment.postgres, logger: environment.logger)
    }

    /// Where runs' artifacts and tokens go.
    var settings: TrainingSettings { executors.settings }

    /// Runs a creation command under the model's next number (`RunNumbers`), with a fresh webhook token when
    /// the run is submitted at once. A dry run of the decider on a new aggregate comes first, so a creation
    /// it refuses spends no number, nor does one for an executor this installation does not run. Only a run
    /// training-svc will start keeps its token in a file (its trainer gets it); an external trainer has it from the
    /// answer, once.
    func create(
        model: String, submit: Bool, metadata: CommandMetadata,
        _ command: (Int32, TrainingRunDecider.Submission?) -> TrainingRunDecider.Command
    ) async throws -> (run: RunRow, token: String?) {
        let token = submit ? RunToken.make() : nil
        let dryRun = try TrainingRunDecider.decide(
            command(1, token.map { .init(tokenSHA256: RunToken.sha256($0), artifactURI: "") }), TrainingRunDecider.initial)
        let executor = dryRun.lazy.compactMap { if case .trainingRunCreated(let created) = $0 { created.config.executor } else { nil } }.first
        if let executor { try executors.check(executor) }
        let managed = executor.map(Executors.isManaged) ?? false
        let tokenFile = try token.flatMap { managed ? try RunToken.write($0, root: settings.artifactRoot) : nil }
        let runID: String
        do {
            (runID, _) = try await runNumbers.create(model: model, highest: { try await self.queries.highestRunNumber(model) }) { number in
                let submission = token.map {
                    TrainingRunDecider.Submission(
                        tokenSHA256: RunToken.sha256($0),
                        artifactURI: settings.artifactDirectory(for: TrainingRunDecider.runID(model: model, number: number)).path)
                }
                let runID = TrainingRunDecider.runID(model: model, number: number)
                return try await environment.execute(
                    TrainingRunDecider.self, aggregateID: runID, command: command(number, submission), metadata: metadata)
            }
        } catch {
            if let tokenFile { try? FileManager.default.removeItem(at: tokenFile) }
            throw error
        }
        if submit && managed, let executor { executors.submitted(runID, executor: executor) }
        guard let run = try await queries.run(runID) else { throw APIError.notFound("run \(runID) vanished") }
        return (run, token)
    }
}
