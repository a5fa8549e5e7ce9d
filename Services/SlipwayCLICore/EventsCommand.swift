import ArgumentParser
import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import SlipwayContracts
import SlipwayEventSourcing
import SlipwayKafka
import SlipwayPlatform

struct EventsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events", abstract: "Read the event log: follow topics, show an aggregate's history, replay read models.",
        subcommands: [TailCommand.self, ShowCommand.self, ReplayCommand.self])
}

/// Prints events as they cross the bus, payloads decoded through the event catalog.
struct TailCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "tail", abstract: "Follow events on the bus, decoded.")

    @Option(
        name: .customLong("context"), help: "Contexts to follow (training, registry, schedule, deploy, testing, metrics, serving); all when omitted.")
    var contexts: [String] = []
    @Option(help: "A topic to follow instead of contexts (repeatable).") var topic: [String] = []
    @Flag(help: "Start at the oldest event the broker still holds instead of new ones.") var fromBeginning = false
    @Option(help: "Stop after this many events.") var count: Int?
    @Option(help: "Kafka bootstrap servers (default: what `slipway up` started).") var kafkaBrokers: String?

    func run() async throws {
        let topics = try selectedTopics()
        let brokers = try Endpoints().kafkaBrokers(override: kafkaBrokers)
        var logger = Logger(label: "slipway.cli")
        logger.logLevel = .error
        let consumer = try KafkaConsumer(
            configuration: KafkaConsumerConfiguration(
                bootstrapServers: brokers, groupId: "slipway-cli-tail-\(UUID().uuidString.prefix(8))", topics: topics,
                autoOffsetReset: fromBeginning ? "earliest" : "latest", fetchWaitMaxMs: 50),
            logger: logger)
        var printed = 0
        for try await batch in consumer.batches(maxCount: 500) {
            for message in batch {
                print(describe(message))
                printed += 1
                if let count, printed >= count {
                    await consumer.close()
                    return
                }
            }
        }
    }

    func selectedTopics() throws -> [String] {
        if !topic.isEmpty { return topic }
        if contexts.isEmpty { return EventCatalog.topics }
        return try contexts.map { name in
            guard let topic = EventCatalog.topic(forContext: name) else {
                throw ValidationError("unknown context '\(name)'; expected one of \(EventContext.allCases.map { "\($0)" }.joined(separator: ", "))")
            }
            return topic
        }
    }

    func describe(_ message: KafkaMessage) -> String {
        guard let envelope = try? EventEnvelope(serializedBytes: message.value) else {
            return "\(message.topic)[\(message.partition)]@\(message.offset) (\(message.value.count) bytes, not an event envelope)"
        }
        return EventLine(envelope: envelope).text
    }
}

/// One aggregate's history from the owning service's store, in order.
struct ShowCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show", abstract: "Show what happened to one aggregate, in order (e.g. --service deploy --aggregate 12).")

    @Option(help: "The service that owns the aggregate.") var service: String
    @Option(help: "The aggregate id.") var aggregate: String
    @Option(help: "The aggregate type, when ids can repeat across types.") var type: String?
    @Option(help: "The service's base URL (default: from `slipway up`).") var url: String?
    @Flag(help: "Print the service's JSON as it is.") var json = false

    func run() async throws {
        let base = try Endpoints().serviceURL(service, override: url)
        var query = "aggregate_id=\(percentEncoded(aggregate))&format=json"
        if let type { query += "&aggregate_type=\(percentEncoded(type))" }
        let body = try await httpRequest(.GET, "\(base)/internal/events?\(query)")
        if json {
            print(String(decoding: body, as: UTF8.self))
            return
        }
        let events = try PlatformJSON.decoder.decode([EventView].self, from: Data(body))
        if events.isEmpty { print("no events for \(aggregate) in \(service)-svc") }
        let time = ISO8601DateFormatter()
        for event in events {
            let position = event.sourcePosition.map { "#\($0)" } ?? "(unpublished)"
            print(
                "\(time.string(from: event.occurredAt))  \(position)  \(event.aggregateType)/\(event.aggregateId) v\(event.version)  \(event.eventType)\(byActor(event.actor))  \(event.payload)"
            )
        }
    }
}

/// Rebuilds a service's read models from the log into a fresh schema; with --verify compares them.
struct ReplayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay", abstract: "Rebuild a service's read model from the log; --verify diffs it against the live one.")

    @Option(help: "The service whose read models to rebuild.") var service: String
    @Option(help: "One read model by name (default: all of the service's).") var projection: String?
    @Flag(help: "Compare the rebuilt tables with the live ones, row by row.") var verify = false
    @Flag(help: "Keep the rebuilt schema for inspection.") var keep = false
    @Option(help: "The service's base URL (default: from `slipway up`).") var url: String?

    func run() async throws {
        let base = try Endpoints().serviceURL(service, override: url)
        var query = "verify=\(verify)&keep=\(keep)"
        if let projection { query += "&projection=\(percentEncoded(projection))" }
        let body = try await httpRequest(.POST, "\(base)/internal/replay?\(query)", timeout: .minutes(30))
        let response = try PlatformJSON.decoder.decode(ReplayResponseJSON.self, from: Data(body))
        if response.reports.isEmpty { print("\(response.service)-svc has no read models to replay yet") }
        var failed = false
        for report in response.reports {
            print(
                String(
                    format: "%@: %d events replayed in %.2f s (%.0f events/s) into schema %@%@",
                    report.projection, report.events, report.seconds, report.eventsPerSecond, report.schema, report.schemaKept ? " (kept)" : ""))
            for table in report.tables {
                let verdict = table.equal ? "equal" : "DIFFERENT (\(table.onlyInLive) rows only live, \(table.onlyInReplay) only rebuilt)"
                print("  \(table.table): live \(table.liveRows) rows, rebuilt \(table.replayRows) rows: \(verdict)")
                for sample in table.samples { print("    \(sample)") }
            }
            if report.verified == false { failed = true }
        }
        if failed { throw ExitCode(1) }
    }
}

struct ReplayResponseJSON: Decodable {
    let service: String
    let reports: [ReplayReport]
}

/// One line per event for people reading a terminal.
struct EventLine {
    let envelope: EventEnvelope

    var text: String {
        let time = ISO8601DateFormatter().string(from: envelope.occurredDate)
        let payload: String
        switch Result(catching: { try EventCatalog.decodeJSON(typeName: envelope.eventType, payload: [UInt8](envelope.payload)) }) {
        case .success(let json?): payload = json
        case .success(nil): payload = "(\(envelope.payload.count) bytes of an uncatalogued type)"
        case .failure: payload = "(undecodable payload)"
        }
        return
            "\(time)  \(envelope.sourceService)#\(envelope.sourcePosition)  \(envelope.aggregateType)/\(envelope.aggregateID) v\(envelope.aggregateVersion)  \(envelope.eventType)\(byActor(envelope.actor))  \(payload)"
    }
}

/// `  by alice` after an event's type, or nothing for an event recorded before actors were kept.
func byActor(_ actor: String) -> String {
    actor.isEmpty ? "" : "  by \(actor)"
}

func percentEncoded(_ text: String) -> String {
    text.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed.subtracting(CharacterSet(charactersIn: "&=+"))) ?? text
}

/// A request to a Slipway service; non-2xx answers become an error carrying the service's message.
func httpRequest(_ method: NIOHTTP1.HTTPMethod, _ url: String, body: [UInt8]? = nil, timeout: TimeAmount = .seconds(30)) async throws -> [UInt8] {
    let (status, bytes) = try await httpCall(method, url, body: body, timeout: timeout)
    guard (200..<300).contains(status) else {
        throw ValidationErrorMessage("\(url) answered \(status): \(String(decoding: bytes, as: UTF8.self))")
    }
    return bytes
}
