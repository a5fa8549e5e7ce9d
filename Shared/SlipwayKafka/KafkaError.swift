import CRdKafka

/// An error reported by librdkafka or by the wrapper.
///
/// `code` is an `rd_kafka_resp_err_t` value (negative codes are librdkafka-internal,
/// positive ones are Kafka protocol errors); `name` is librdkafka's symbolic name.
public struct KafkaError: Error, CustomStringConvertible, Sendable, Hashable {
    public var code: Int32
    public var name: String
    public var message: String
    /// librdkafka flags the error as fatal: the client instance can no longer be used.
    public var isFatal: Bool
    /// librdkafka suggests that retrying the operation may succeed.
    public var isRetriable: Bool

    public init(code: Int32, name: String? = nil, message: String, isFatal: Bool = false, isRetriable: Bool = false) {
        self.code = code
        self.name = name ?? String(cString: rd_kafka_err2name(rd_kafka_resp_err_t(code)))
        self.message = message
        self.isFatal = isFatal
        self.isRetriable = isRetriable
    }

    init(_ err: rd_kafka_resp_err_t, _ context: String? = nil) {
        let text = String(cString: rd_kafka_err2str(err))
        self.init(
            code: err.rawValue, message: context.map { "\($0): \(text)" } ?? text)
    }

    /// Takes ownership of an `rd_kafka_error_t` and destroys it.
    init(consuming error: OpaquePointer, _ context: String? = nil) {
        let code = rd_kafka_error_code(error)
        let text = String(cString: rd_kafka_error_string(error))
        self.init(
            code: code.rawValue, message: context.map { "\($0): \(text)" } ?? text,
            isFatal: rd_kafka_error_is_fatal(error) != 0,
            isRetriable: rd_kafka_error_is_retriable(error) != 0)
        rd_kafka_error_destroy(error)
    }

    /// A wrapper-level error (configuration, lifecycle) that has no librdkafka code.
    static func client(_ message: String) -> KafkaError {
        KafkaError(code: RD_KAFKA_RESP_ERR__INVALID_ARG.rawValue, message: message)
    }

    static let shutDown = KafkaError(
        code: RD_KAFKA_RESP_ERR__DESTROY.rawValue, message: "the client has been shut down")

    public var description: String { "KafkaError(\(name) [\(code)]: \(message))" }
}
