import SwiftProtobuf

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

extension EventEnvelope {
    /// Puts `message` in the envelope: sets `eventType` to its fully-qualified protobuf name and
    /// `payload` to its binary encoding. Other fields are left as they are.
    public mutating func setPayload<M: SwiftProtobuf.Message>(_ message: M) throws {
        eventType = M.protoMessageName
        payload = try message.serializedData()
    }

    /// Decodes the payload as `M`; throws `EventContractError.payloadTypeMismatch` if the
    /// envelope carries another type, or a decoding error if the bytes are invalid.
    public func payload<M: SwiftProtobuf.Message>(as type: M.Type) throws -> M {
        guard eventType == M.protoMessageName else {
            throw EventContractError.payloadTypeMismatch(expected: M.protoMessageName, actual: eventType)
        }
        return try M(serializedBytes: payload)
    }

    /// Decodes the payload through `EventCatalog`; nil if `eventType` is not catalogued.
    public func decodedPayload() throws -> (any SwiftProtobuf.Message)? {
        try EventCatalog.decode(typeName: eventType, payload: Array(payload))
    }
}

extension EventEnvelopeBatch {
    /// Alias of the generated `hasMore_p`: swift-protobuf renames a field called `has_more`
    /// because `has…` names are reserved for presence checks.
    public var hasMore: Bool {
        get { hasMore_p }
        set { hasMore_p = newValue }
    }
}
