import Foundation
import Hummingbird
import SlipwayModelBundle
import SlipwayPlatform

/// The external-trainer contract (README "Training webhooks"): each body becomes the run's command, as
/// reported; the decider holds every rule about it.
enum Webhooks {
    /// A webhook's kind: the last segment of its path, each a route of its own with its own body.
    enum Kind: String, CaseIterable, Sendable {
        case stageComplete = "stage-complete"
        case epochComplete = "epoch-complete"
        case completed
        case failed
    }

    static let kinds = Kind.allCases.map(\.rawValue)

    struct StageBody: Decodable {
        var stage: String
        var status: String?
        var durationSeconds: Double?
        var artifacts: [String: String]?
        var metrics: [String: Double]?
    }

    struct EpochBody: Decodable {
        var epoch: Int
        var totalEpochs: Int?
        var loss: Double
        var valLoss: Double?
        var recallAt5: Double?
        var recallAt10: Double?
        var recallAt50: Double?
        var recallAt100: Double?
        var metrics: [String: Double]?
        var durationSeconds: Double?
    }

    struct CompletedBody: Decodable {
        var metrics: [String: Double]
        var artifactUri: String
        var artifacts: [String: String]?
        var durationSeconds: Double?
    }

    struct FailedBody: Decodable {
        var error: String
        var stage: String?
        var logTail: String?
    }

    /// The command a webhook call of `kind` asks for; `now` measures a run's duration when the trainer does not say.
    static func command(
        kind: Kind, request: Request, context: SlipwayRequestContext, run: RunRow, now: Date
    ) async throws -> TrainingRunDecider.Command {
        /// A duration a trainer reports: not negative, finite and under a year, or the call is refused naming it
        /// (converting 1e300 seconds would otherwise trap).
        func milliseconds(_ seconds: Double?) throws -> Int64 {
            guard let seconds else { return 0 }
            guard let ms = TrainerReport.milliseconds(seconds) else {
                throw APIError.invalid("duration_seconds must be a number of seconds from 0 to a year", field: "duration_seconds")
            }
            return ms
        }
        let sinceStart = run.startedAt.map { now.timeIntervalSince($0) }
        switch kind {
        case .stageComplete:
            let body = try await request.decode(as: StageBody.self, context: context)
            return .reportStage(
                .init(
                    stage: body.stage, status: body.status, durationMs: try milliseconds(body.durationSeconds), artifacts: body.artifacts ?? [:],
                    metrics: body.metrics ?? [:]))
        case .epochComplete:
            let body = try await request.decode(as: EpochBody.self, context: context)
            var recallAtK: [Int32: Double] = [:]
            for (k, value) in [(5, body.recallAt5), (10, body.recallAt10), (50, body.recallAt50), (100, body.recallAt100)] {
                if let value { recallAtK[Int32(k)] = value }
            }
            return .reportEpoch(
                .init(
                    epoch: body.epoch, totalEpochs: body.totalEpochs, loss: body.loss, valLoss: body.valLoss, recallAtK: recallAtK,
                    metrics: body.metrics ?? [:], durationMs: try milliseconds(body.durationSeconds)))
        case .completed:
            let body = try await request.decode(as: CompletedBody.self, context: context)
            return .complete(
                .init(
                    metrics: body.metrics, artifactURI: body.artifactUri, artifacts: body.artifacts ?? [:],
                    durationMs: try milliseconds(body.durationSeconds ?? sinceStart), bundleProblem: bundleProblem(body.artifactUri)))
        case .failed:
            let body = try await request.decode(as: FailedBody.self, context: context)
            return .fail(.init(stage: body.stage, error: body.error, logTail: body.logTail ?? "", durationMs: (try? milliseconds(sinceStart)) ?? 0))
        }
    }

    /// Why a local bundle does not load (a version is registered from it); other schemes are trusted.
    static func bundleProblem(_ uri: String) -> String? {
        guard uri.hasPrefix("/") || uri.hasPrefix("file://") else { return nil }
        let path = uri.hasPrefix("file://") ? String(uri.dropFirst(7)) : uri
        do {
            _ = try ModelBundle.load(from: URL(fileURLWithPath: path))
            return nil
        } catch {
            return "\(error)"
        }
    }
}
