import Foundation
import Hummingbird
import Logging
import Metrics
import Prometheus
import Synchronization

/// Process-wide logging and metrics, bootstrapped once per executable.
public enum Observability {
    private static let bootstrapped = Mutex(false)
    public static let registry = PrometheusCollectorRegistry()

    /// Logs go to stderr (the supervisor prefixes and files them); metrics to the Prometheus registry,
    /// with OTel-style dotted names turned into Prometheus underscores.
    public static func bootstrap(level: Logger.Level) {
        let first = bootstrapped.withLock { done -> Bool in
            defer { done = true }
            return !done
        }
        guard first else { return }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.nameAndLabelSanitizer = { name, labels in
            (name.replacingOccurrences(of: ".", with: "_"), labels.map { ($0.0.replacingOccurrences(of: ".", with: "_"), $0.1) })
        }
        factory.defaultDurationHistogramBuckets = [
            .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
            .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
            .seconds(2), .seconds(5),
        ]
        MetricsSystem.bootstrap(factory)
    }

    public static func prometheusText() -> ByteBuffer {
        var bytes: [UInt8] = []
        registry.emit(into: &bytes)
        return ByteBuffer(bytes: bytes)
    }
}

/// `http.server.request.duration` per route template, method and status.
public struct RequestMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    public init() {}

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        var status = 500
        defer {
            RequestTimers.shared.timer(route: context.endpointPath ?? "unmatched", method: request.method.rawValue, status: status)
                .recordInterval(since: start)
        }
        let response = try await next(request, context)
        status = response.status.code
        return response
    }
}

/// One timer per route, method and status, made once: making a timer looks it up in the Prometheus
/// registry under a lock, which cost a quarter of a model-server request's CPU when done per request.
final class RequestTimers: Sendable {
    static let shared = RequestTimers()

    private struct Key: Hashable {
        let route: String
        let method: String
        let status: Int
    }

    private let timers = Mutex<[Key: Metrics.Timer]>([:])

    func timer(route: String, method: String, status: Int) -> Metrics.Timer {
        let key = Key(route: route, method: method, status: status)
        if let timer = timers.withLock({ $0[key] }) { return timer }
        let timer = Metrics.Timer(
            label: "http.server.request.duration",
            dimensions: [
                ("http_route", route), ("http_request_method", method), ("http_response_status_code", "\(status)"),
            ])
        timers.withLock { $0[key] = timer }
        return timer
    }
}

extension Metrics.Timer {
    func recordInterval(since start: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - start
        let (seconds, attoseconds) = elapsed.components
        recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
