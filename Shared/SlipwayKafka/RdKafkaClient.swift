import CRdKafka
import Logging

/// Receives librdkafka callbacks for one client. Implementations must be thread-safe:
/// callbacks run on whichever thread serves the queue (our poll thread, or librdkafka's
/// internal threads for logs).
protocol RdKafkaCallbackHandler: AnyObject, Sendable {
    func clientError(_ error: KafkaError)
    /// Consumers only: called on the poll thread from within `rd_kafka_consumer_poll`.
    func rebalance(_ client: OpaquePointer, _ err: rd_kafka_resp_err_t, _ partitions: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?)
    /// A broker reported a cluster id different from the one the client knew (the broker
    /// was replaced, e.g. the dev broker restarted empty). Called from librdkafka's threads.
    func observedClusterId(_ id: String)
}

extension RdKafkaCallbackHandler {
    func rebalance(_ client: OpaquePointer, _ err: rd_kafka_resp_err_t, _ partitions: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?) {}
    func observedClusterId(_ id: String) {}
}

/// The object whose address is registered with `rd_kafka_conf_set_opaque`. It is owned
/// (strongly) by the `RdKafkaClient`, which outlives the `rd_kafka_t`, so the unretained
/// pointer handed to C is valid for every callback.
final class RdKafkaContext: @unchecked Sendable {
    let logger: Logger
    weak var handler: (any RdKafkaCallbackHandler)?

    init(logger: Logger) {
        self.logger = logger
    }

    static func from(_ rk: OpaquePointer?) -> RdKafkaContext? {
        guard let rk, let raw = rd_kafka_opaque(rk) else { return nil }
        return Unmanaged<RdKafkaContext>.fromOpaque(raw).takeUnretainedValue()
    }
}

/// Owns one `rd_kafka_t`. `deinit` destroys it. librdkafka handles are thread-safe, hence
/// `@unchecked Sendable`. The pointer never leaves this module.
final class RdKafkaClient: @unchecked Sendable {
    enum Kind { case producer, consumer }

    let handle: OpaquePointer
    let context: RdKafkaContext
    let kind: Kind
    private let destroyFlags: Int32

    /// Builds the configuration and the client. `configure` can install extra callbacks on
    /// the `rd_kafka_conf_t` before the client takes ownership of it.
    init(
        kind: Kind,
        settings: [(String, String)],
        logger: Logger,
        configure: (OpaquePointer) -> Void = { _ in }
    ) throws {
        let conf = rd_kafka_conf_new()!
        var errstr = [CChar](repeating: 0, count: 512)
        for (key, value) in settings {
            let result = rd_kafka_conf_set(conf, key, value, &errstr, errstr.count)
            if result != RD_KAFKA_CONF_OK {
                rd_kafka_conf_destroy(conf)
                throw KafkaError.client("invalid configuration \(key): \(cString(errstr))")
            }
        }
        let context = RdKafkaContext(logger: logger)
        rd_kafka_conf_set_opaque(conf, Unmanaged.passUnretained(context).toOpaque())
        rd_kafka_conf_set_log_cb(conf) { rk, level, facility, message in
            guard let context = RdKafkaContext.from(rk) else { return }
            let text = message.map { String(cString: $0) } ?? ""
            let fac = facility.map { String(cString: $0) } ?? ""
            if fac == "CLUSTERID", let id = RdKafkaClient.reportedClusterId(in: text) {
                context.handler?.observedClusterId(id)
            }
            context.logger.log(
                level: RdKafkaClient.logLevel(syslog: level), "\(text)",
                metadata: [LogKey.kafkaFacility: "\(fac)"])
        }
        rd_kafka_conf_set_error_cb(conf) { rk, err, reason, _ in
            guard let context = RdKafkaContext.from(rk) else { return }
            var error = KafkaError(
                code: err, message: reason.map { String(cString: $0) } ?? "")
            if RdKafkaClient.isFatal(rk, err) {
                error.isFatal = true
                var buffer = [CChar](repeating: 0, count: 512)
                let fatal = rd_kafka_fatal_error(rk, &buffer, buffer.count)
                error.code = fatal.rawValue
                error.name = String(cString: rd_kafka_err2name(fatal))
                error.message = cString(buffer)
            }
            context.handler?.clientError(error)
        }
        configure(conf)
        let type: rd_kafka_type_t = kind == .producer ? RD_KAFKA_PRODUCER : RD_KAFKA_CONSUMER
        guard let rk = rd_kafka_new(type, conf, &errstr, errstr.count) else {
            rd_kafka_conf_destroy(conf)
            throw KafkaError.client("rd_kafka_new failed: \(cString(errstr))")
        }
        self.handle = rk
        self.context = context
        self.kind = kind
        // A consumer is closed explicitly (KafkaConsumer.close) before the last reference
        // goes; skip the implicit close in destroy so deinit never blocks on the network.
        self.destroyFlags = kind == .consumer ? Int32(RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE) : 0
    }

    deinit {
        rd_kafka_destroy_flags(handle, destroyFlags)
    }

    var name: String { String(cString: rd_kafka_name(handle)) }

    static func isFatal(_ rk: OpaquePointer?, _ err: Int32) -> Bool {
        err == RD_KAFKA_RESP_ERR__FATAL.rawValue
    }

    /// librdkafka 2.0 logs `Broker X reports different ClusterId "NEW" than previously known
    /// "OLD"` (facility CLUSTERID) and does not otherwise tell the application.
    static func reportedClusterId(in text: String) -> String? {
        let parts = text.split(separator: "\"", omittingEmptySubsequences: false)
        guard parts.count >= 2, text.contains("different ClusterId") else { return nil }
        return String(parts[1])
    }

    static func logLevel(syslog level: Int32) -> Logger.Level {
        switch level {
        case ...2: return .critical
        case 3, 4: return .warning
        case 5, 6: return .info
        default: return .debug
        }
    }
}

/// Reads a NUL-terminated C string out of a fixed-size buffer.
func cString(_ buffer: [CChar]) -> String {
    buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
}
