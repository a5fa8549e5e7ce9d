import SlipwayContracts
import SwiftProtobuf

/// A domain event that is one of the catalogued protobuf messages (`proto/`). Deciders match on the
/// concrete message (`case let created as TrainingRunCreated`), so one type serves every context and
/// the event catalog stays the single list of what may be stored.
public struct ProtoEvent: EventCodable {
    public let message: any SwiftProtobuf.Message

    public init(_ message: any SwiftProtobuf.Message) { self.message = message }

    public var eventType: String { Swift.type(of: message).protoMessageName }

    public func encodePayload() throws -> [UInt8] { try message.serializedBytes() }

    public static func decode(eventType: String, payload: [UInt8]) throws -> ProtoEvent {
        guard let message = try EventCatalog.decode(typeName: eventType, payload: payload) else {
            throw UnknownEventType(eventType)
        }
        return ProtoEvent(message)
    }
}
