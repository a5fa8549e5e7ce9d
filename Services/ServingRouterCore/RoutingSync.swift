import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import ServiceLifecycle
import SlipwayContracts
import SlipwayEventSourcing
import SlipwayKafka
import SlipwayPlatform
import Synchronization

/// Keeps the routing table current: deploy-svc's snapshot at start and every `resyncSeconds` (sooner
/// after a gap in the stream), and the deploy event stream in between.
final class RoutingSync: Sendable {
    let store: RoutingTableStore
    let config: ServingRouterConfig
    let httpClient: HTTPClient
    let logger: Logger
    /// True once the deploy-event consumer has partitions (events published from then on are seen).
    let streamAssigned = Atomic<Bool>(false)
    let snapshotsLoaded = Atomic<Int>(0)
    let eventsApplied = Atomic<Int>(0)

    init(store: RoutingTableStore, config: ServingRouterConfig, httpClient: HTTPClient, logger: Logger) {
        self.store = store
        self.config = config
        self.httpClient = httpClient
        self.logger = logger
    }

    // MARK: Snapshot

    /// Fetches `GET {deploy-url}/internal/routing` and merges it.
    func loadSnapshot() async throws {
        let startedAt = store.generation
        let response = try await config.deploy.withFailover { base in
            try await httpClient.execute(HTTPClientRequest(url: base + "/internal/routing"), timeout: .seconds(10))
        }
        let body = try await response.body.collect(upTo: 64 * 1024 * 1024)
        guard response.status == .ok else {
            throw SnapshotError(message: "deploy-svc answered \(response.status.code) to GET /internal/routing")
        }
        let document = try JSONDecoder().decode(RoutingDocument.self, from: Data(body.readableBytesView))
        store.merge(document, startedAt: startedAt)
        snapshotsLoaded.add(1, ordering: .relaxed)
        logger.debug(
            "routing snapshot merged",
            metadata: [LogKey.routerEndpoints: "\(document.endpoints.count)", LogKey.routerApiKeys: "\(document.apiKeys.count)"])
    }

    /// Loads the snapshot until it succeeds (with backoff, serving 503 meanwhile), then reloads it every
    /// `resyncSeconds`, or within a second of a gap seen in the stream. Ends on graceful shutdown: a wait
    /// or a snapshot request in progress is cancelled then.
    func runResync() async {
        await cancelWhenGracefulShutdown {
            var delay: Duration = .milliseconds(200)
            while !Task.isCancelled {
                do {
                    try await self.loadSnapshot()
                    self.logger.info("routing table loaded", metadata: [LogKey.routerEndpoints: "\(self.store.current.endpointCount)"])
                    break
                } catch {
                    if Task.isCancelled { return }
                    self.logger.warning(
                        "routing snapshot failed, retrying", metadata: [LogKey.error: "\(error)", LogKey.deployURL: "\(self.config.deploy)"])
                    try? await Task.sleep(for: delay)
                    delay = min(delay * 2, .seconds(5))
                }
            }
            var lastLoad = ContinuousClock.now
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(100))
                let due = ContinuousClock.now - lastLoad >= .seconds(self.config.resyncSeconds)
                let wanted = ContinuousClock.now - lastLoad >= .seconds(1) && self.store.takeResyncRequest()
                guard due || wanted, !Task.isCancelled else { continue }
                lastLoad = ContinuousClock.now
                do {
                    try await self.loadSnapshot()
                } catch {
                    if !Task.isCancelled { self.logger.warning("routing resync failed", metadata: [LogKey.error: "\(error)"]) }
                }
            }
        }
    }

    // MARK: Stream

    /// Consumes `slipway.deploy.events` from the latest offset (the snapshot covers the past) under a group
    /// of its own, committing nothing. Restarted with backoff if the client fails; ends on graceful shutdown.
    func runStream() async {
        var delay: Duration = .milliseconds(500)
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                try await consumeStream()
                return
            } catch is CancellationError {
                return
            } catch {
                streamAssigned.store(false, ordering: .relaxed)
                if Task.isShuttingDownGracefully { return }
                logger.error("deploy event stream failed, restarting", metadata: [LogKey.error: "\(error)"])
                let wait = delay
                await cancelWhenGracefulShutdown { try? await Task.sleep(for: wait) }
                delay = min(delay * 2, .seconds(10))
            }
        }
    }

    private func consumeStream() async throws {
        let topic = EventContext.deploy.topic
        let configuration = KafkaConsumerConfiguration(
            bootstrapServers: config.kafkaBrokers, groupId: "serving-router.\(UUID().uuidString.lowercased())", topics: [topic],
            autoOffsetReset: "latest", fetchWaitMaxMs: config.fetchWaitMaxMs)
        let consumer = try KafkaConsumer(configuration: configuration, logger: logger)
        defer { streamAssigned.store(false, ordering: .relaxed) }
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { [self] in
                    for await event in consumer.events {
                        switch event {
                        case .partitionsAssigned:
                            streamAssigned.store(true, ordering: .relaxed)
                            // The stream starts at the latest offset: what happened between the snapshot and now (a key
                            // created while the consumer joined) is in neither until a snapshot taken after this.
                            store.requestResync()
                            logger.info("deploy event stream assigned", metadata: [LogKey.kafkaTopic: "\(topic)"])
                        case .partitionsRevoked:
                            streamAssigned.store(false, ordering: .relaxed)
                        case .clusterChanged, .offsetReset, .offsetJump:
                            store.requestResync()
                        case .error(let error):
                            logger.debug("deploy event stream client error", metadata: [LogKey.error: "\(error)"])
                        }
                    }
                }
                try await cancelWhenGracefulShutdown {
                    for try await batch in consumer.batches(maxCount: 512) {
                        for message in batch { self.handle(message) }
                    }
                }
                group.cancelAll()
            }
        } catch {
            await consumer.close()
            throw error
        }
        await consumer.close()
    }

    /// Applies one message of the deploy topic: an Endpoint or ApiKey event, decoded as the context's events.
    /// An event type this build does not know (a newer deploy-svc's) is skipped.
    func handle(_ message: KafkaMessage) {
        do {
            let envelope = try EventEnvelope(serializedBytes: message.value)
            guard envelope.aggregateType == EndpointState.aggregateType || envelope.aggregateType == ApiKeyState.aggregateType else { return }
            let outcome = store.apply(envelope, event: try envelope.decode(as: DeployEvent.self))
            if outcome == .applied || outcome == .appliedAfterGap { eventsApplied.add(1, ordering: .relaxed) }
            logger.debug(
                "deploy event",
                metadata: [
                    LogKey.eventType: "\(envelope.eventType)", LogKey.aggregateID: "\(envelope.aggregateID)",
                    LogKey.aggregateVersion: "\(envelope.aggregateVersion)", LogKey.routerOutcome: "\(outcome)",
                ])
        } catch let unknown as UnknownEventType {
            logger.debug("unknown deploy event type skipped", metadata: [LogKey.eventType: "\(unknown.eventType)"])
        } catch {
            logger.warning("undecodable deploy event skipped", metadata: [LogKey.kafkaOffset: "\(message.offset)", LogKey.error: "\(error)"])
        }
    }
}

struct SnapshotError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}
