import SwiftProtobuf

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Every Slipway event payload type, keyed by its fully-qualified protobuf message name
/// (the value of `EventEnvelope.eventType`, e.g. `"slipway.training.v1.TrainingRunCreated"`).
///
/// Tools (`slipway events tail|show`, replay, projections of other services) use it to turn an
/// envelope's payload bytes back into a message or into protobuf JSON without knowing the
/// type at compile time.
///
/// A new event message is added to the `.proto` file with a `// Emitted ...` doc comment;
/// `scripts/gen-proto` then regenerates the context enums this catalog is derived from.
public enum EventCatalog {
    /// One catalogued event type.
    public struct Entry: Sendable {
        /// Fully-qualified protobuf message name, e.g. `slipway.deploy.v1.DeploymentActivated`.
        public let typeName: String
        public let context: EventContext
        public let messageType: any SwiftProtobuf.Message.Type
    }

    /// The event message types of each context, from the generated context enums.
    public static let eventTypes: [EventContext: [any SwiftProtobuf.Message.Type]] = [
        .training: TrainingEvent.messageTypes,
        .registry: RegistryEvent.messageTypes,
        .schedule: ScheduleEvent.messageTypes,
        .deploy: DeployEvent.messageTypes,
        .testing: TestingEvent.messageTypes,
        .metrics: MetricsEvent.messageTypes,
        .gateway: GatewayEvent.messageTypes,
        .serving: ServingEvent.messageTypes,
    ]

    /// All entries, grouped by context in `EventContext.allCases` order.
    public static let entries: [Entry] = EventContext.allCases.flatMap { context in
        (eventTypes[context] ?? []).map {
            Entry(typeName: $0.protoMessageName, context: context, messageType: $0)
        }
    }

    private static let entriesByName: [String: Entry] = Dictionary(
        entries.map { ($0.typeName, $0) },
        uniquingKeysWith: { first, _ in first }
    )

    /// Fully-qualified names of all catalogued event types.
    public static var typeNames: [String] { entries.map(\.typeName) }

    /// Every topic, one per context: `slipway.<context>.events` and `slipway.serving.requests`.
    public static let topics: [String] = EventContext.allCases.map(\.topic)

    // MARK: Look-ups

    /// The message type whose fully-qualified protobuf name is `typeName`, or nil if unknown.
    public static func messageType(for typeName: String) -> (any SwiftProtobuf.Message.Type)? {
        entriesByName[typeName]?.messageType
    }

    /// The catalog entry for `typeName`, or nil if unknown.
    public static func entry(for typeName: String) -> Entry? {
        entriesByName[typeName]
    }

    /// The context owning a catalogued event type, or nil if unknown.
    public static func context(forEventType typeName: String) -> EventContext? {
        entriesByName[typeName]?.context
    }

    /// The topic of a context.
    public static func topic(forContext context: EventContext) -> String {
        context.topic
    }

    /// The topic of a context given by name (`"training"`, `"deploy"`, ...), or nil if unknown.
    public static func topic(forContext name: String) -> String? {
        EventContext(rawValue: name)?.topic
    }

    /// The topic an event of `typeName` is published on, or nil if the type is unknown.
    public static func topic(forEventType typeName: String) -> String? {
        context(forEventType: typeName)?.topic
    }

    /// The name to put in `EventEnvelope.eventType` for a message type.
    public static func typeName<M: SwiftProtobuf.Message>(of type: M.Type) -> String {
        M.protoMessageName
    }

    // MARK: Decoding

    /// Decodes a binary payload of type `typeName`. Returns nil if the type is not catalogued;
    /// throws if the bytes are not a valid message of that type.
    public static func decode(typeName: String, payload: [UInt8]) throws -> (any SwiftProtobuf.Message)? {
        guard let type = messageType(for: typeName) else { return nil }
        return try type.init(serializedBytes: payload)
    }

    /// JSON options used by the JSON helpers by default: protobuf JSON (lowerCamelCase names,
    /// enums by name, int64 as strings) with map keys sorted so output is stable.
    public static var defaultJSONOptions: JSONEncodingOptions {
        var options = JSONEncodingOptions()
        options.useDeterministicOrdering = true
        return options
    }

    /// The payload as protobuf JSON (for `slipway events show`). Returns nil if the type is not
    /// catalogued; throws if the bytes are not a valid message of that type.
    public static func decodeJSON(
        typeName: String,
        payload: [UInt8],
        options: JSONEncodingOptions = EventCatalog.defaultJSONOptions
    ) throws -> String? {
        guard let message = try decode(typeName: typeName, payload: payload) else { return nil }
        return try message.jsonString(options: options)
    }

    /// The whole envelope as one JSON object, with `payload` replaced by the decoded payload
    /// object when its type is catalogued (otherwise left as base64, as protobuf JSON does).
    public static func envelopeJSON(
        _ envelope: EventEnvelope,
        options: JSONEncodingOptions = EventCatalog.defaultJSONOptions
    ) throws -> String {
        guard let payloadJSON = try decodeJSON(typeName: envelope.eventType, payload: Array(envelope.payload), options: options)
        else {
            return try envelope.jsonString(options: options)
        }
        var header = envelope
        header.payload = Data()
        let headerJSON = try header.jsonString(options: options)
        // headerJSON is a JSON object: "{}" or "{...}". Append the payload member before "}".
        let body = headerJSON.dropFirst().dropLast()
        return body.isEmpty
            ? "{\"payload\":\(payloadJSON)}"
            : "{\(body),\"payload\":\(payloadJSON)}"
    }
}

/// Errors of the envelope helpers.
public enum EventContractError: Error, Equatable, Sendable {
    /// The envelope carries a different payload type than the one asked for.
    case payloadTypeMismatch(expected: String, actual: String)
}
