import ArgumentParser
import Foundation
import Logging
import ModelServerCore
import NIOCore
import NIOPosix
import ServiceLifecycle
import SlipwayModelBundle
import SlipwayPlatform

/// `model-server --bundle DIR [--name NAME] [--version 1] [--host 127.0.0.1] [--port 8500]`: serves one
/// model bundle (one process per deployed revision).
@main
struct ModelServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model-server", abstract: "Serve one Slipway model bundle over HTTP (TF-Serving-compatible REST + /recommend).")

    @Option(help: "Model bundle directory.") var bundle: String
    @Option(help: "Model name in URLs (default: the bundle's model_name).") var name: String?
    @Option(help: "Version reported by /v1/models/{name} and /health.") var version = "1"
    @Option var host = "127.0.0.1"
    @Option var port = 8500
    @Option(help: "trace … critical") var logLevel = "info"
    /// Requests are scored on the event loop that read them, so event loops are the scoring threads too: one per
    /// core measured best (2 cores, wrk on the same machine: 9.1–9.5k rps against 5.7–6.3k with one loop).
    @Option(help: "Network event-loop threads, each also scoring the requests it reads (default: one per core).") var eventLoops = System.coreCount
    @Option(help: "Coalesce concurrent :predict requests into batches of up to this many instances (0 or 1: off).") var maxBatchSize = 0
    @Option(help: "Longest wait for a :predict batch to fill, in milliseconds.") var batchTimeoutMs = 2

    func run() async throws {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        Observability.bootstrap(level: level)
        var logger = Logger(label: "slipway.model-server")
        logger.logLevel = level
        let loaded: ModelBundle
        do {
            loaded = try ModelBundle.load(from: URL(fileURLWithPath: bundle))
        } catch {
            logger.critical("cannot load the bundle", metadata: [LogKey.bundle: "\(bundle)", LogKey.error: "\(error)"])
            throw ExitCode(2)
        }
        let model = try ServedModel(bundle: loaded, name: name, version: version)
        // The process owns its event-loop groups and shuts them down once the server has stopped.
        let group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, eventLoops))
        let batchGroup = maxBatchSize > 1 ? MultiThreadedEventLoopGroup(numberOfThreads: 1) : nil
        let batcher = batchGroup.map {
            PredictBatcher(scorer: model.scorer, maxBatchSize: maxBatchSize, timeout: .milliseconds(Int64(max(0, batchTimeoutMs))), loop: $0.next())
        }
        logger.info(
            "serving",
            metadata: [
                LogKey.model: "\(model.name)", LogKey.version: "\(model.version)", LogKey.candidates: "\(model.scorer.candidateCount)",
                LogKey.httpPort: "\(port)", LogKey.batchMaxSize: "\(batcher?.maxBatchSize ?? 1)",
            ])
        let server = ModelHTTPServer(api: ModelServerAPI(model: model, batcher: batcher), host: host, port: port, group: group, logger: logger)
        let configuration = ShutdownBudget.processGroup([.init(service: server)], logger: logger)
        do {
            try await ServiceGroup(configuration: configuration).run()
        } catch {
            try? await group.shutdownGracefully()
            try? await batchGroup?.shutdownGracefully()
            throw error
        }
        try await group.shutdownGracefully()
        try await batchGroup?.shutdownGracefully()
    }
}
