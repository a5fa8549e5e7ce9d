import Foundation
import SlipwayContracts
import SlipwayEventSourcing
import SwiftProtobuf

/// The events of the RegisteredModel aggregate, as the contract's protobuf messages
/// (`proto/slipway/registry/v1/events.proto`).
public enum RegistryEvent: EventCodable, Equatable {
    case modelCreated(RegisteredModelCreated)
    case modelUpdated(RegisteredModelUpdated)
    case versionRegistered(ModelVersionRegistered)
    case aliasSet(ModelAliasSet)
    case aliasDeleted(ModelAliasDeleted)

    public var eventType: String {
        switch self {
        case .modelCreated: return RegisteredModelCreated.protoMessageName
        case .modelUpdated: return RegisteredModelUpdated.protoMessageName
        case .versionRegistered: return ModelVersionRegistered.protoMessageName
        case .aliasSet: return ModelAliasSet.protoMessageName
        case .aliasDeleted: return ModelAliasDeleted.protoMessageName
        }
    }

    public func encodePayload() throws -> [UInt8] {
        switch self {
        case .modelCreated(let message): return try message.serializedBytes()
        case .modelUpdated(let message): return try message.serializedBytes()
        case .versionRegistered(let message): return try message.serializedBytes()
        case .aliasSet(let message): return try message.serializedBytes()
        case .aliasDeleted(let message): return try message.serializedBytes()
        }
    }

    public static func decode(eventType: String, payload: [UInt8]) throws -> RegistryEvent {
        switch eventType {
        case RegisteredModelCreated.protoMessageName: return .modelCreated(try RegisteredModelCreated(serializedBytes: payload))
        case RegisteredModelUpdated.protoMessageName: return .modelUpdated(try RegisteredModelUpdated(serializedBytes: payload))
        case ModelVersionRegistered.protoMessageName: return .versionRegistered(try ModelVersionRegistered(serializedBytes: payload))
        case ModelAliasSet.protoMessageName: return .aliasSet(try ModelAliasSet(serializedBytes: payload))
        case ModelAliasDeleted.protoMessageName: return .aliasDeleted(try ModelAliasDeleted(serializedBytes: payload))
        default: throw UnknownEventType(eventType)
        }
    }
}
