import ArgumentParser
import Foundation

/// `slipway`: runs the platform locally and talks to it.
public struct SlipwayCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "slipway",
        abstract: "Slipway: train, register, deploy and watch recommendation models; every change is an event.",
        subcommands: [
            UpCommand.self, DownCommand.self, StatusCommand.self, TrainCommand.self, RunsCommand.self, ModelsCommand.self,
            DatasetsCommand.self, DeployCommand.self, RollbackCommand.self, TrafficCommand.self, UndeployCommand.self,
            EndpointsCommand.self, KeysCommand.self, MetricsCommand.self, AlertsCommand.self, DriftCommand.self, HealthCommand.self,
            FeedbackCommand.self, SchedulesCommand.self, TestCommand.self, TestsCommand.self, ChecksCommand.self, LoadTestCommand.self,
            EventsCommand.self, WhoAmICommand.self, TokensCommand.self, UsersCommand.self,
            BenchCommand.self,
        ])

    public init() {}

    /// Parses and runs, always on the async path (see MACHINE-NOTES: a top-level `main()` can pick the sync one).
    public static func runFromCommandLine() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Benchmarks that print a RESULT line.",
        subcommands: [
            BenchEventsCommand.self, BenchTrainCommand.self, BenchQualityCommand.self, BenchServeCommand.self, BenchLoadTestCommand.self,
            BenchRolloutCommand.self, BenchScaleCommand.self, BenchReplicasCommand.self,
            BenchApiCommand.self, BenchUiCommand.self,
            BenchMetricsCommand.self, BenchSchedulesCommand.self, BenchSinkCommand.self,
        ])
}
