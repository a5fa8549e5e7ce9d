import SwiftProtobuf

/// How an event travels: a type name (the payload message's full name) and its serialized bytes.
/// The event store and the projectors need nothing else of an event type.
public protocol EventCodable: Sendable {
    var eventType: String { get }
    func encodePayload() throws -> [UInt8]
    static func decode(eventType: String, payload: [UInt8]) throws -> Self
}

/// A payload whose type the decoding family does not know: a newer producer's event, or another
/// context's. Projections skip such events; deciders never see one (they decode only their own).
public struct UnknownEventType: Error, CustomStringConvertible {
    public let eventType: String
    public init(_ eventType: String) { self.eventType = eventType }
    public var description: String { "unknown event type \(eventType)" }
}

/// The typed events of one context: an enum with a case per catalogued message, generated from the
/// proto files by `scripts/gen-events` (see `Generated/ContextEvents.swift`). Folds switch over it
/// exhaustively, so a new event is a compile error wherever it is not handled.
public protocol ContextEvent: EventCodable {
    static var context: EventContext { get }
    /// Every event message of the context, in proto file order.
    static var messageTypes: [any SwiftProtobuf.Message.Type] { get }
    /// The protobuf message this case carries.
    var message: any SwiftProtobuf.Message { get }
    /// The case for a message of this context; nil for any other message.
    init?(_ message: any SwiftProtobuf.Message)
}

extension ContextEvent {
    public var eventType: String { Swift.type(of: message).protoMessageName }
    public func encodePayload() throws -> [UInt8] { try message.serializedBytes() }
}
