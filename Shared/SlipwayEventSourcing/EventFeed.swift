import AsyncHTTPClient
import Foundation
import NIOCore
import SlipwayContracts

/// A source service's events by position: what a projection backfills from when Kafka lost,
/// reordered or never delivered something.
public protocol EventFeed: Sendable {
    func events(after position: Int64, limit: Int) async throws -> [EventEnvelope]
}

/// `GET {baseURL}/internal/events?after=POS&limit=N`, protobuf `EventEnvelopeBatch`.
public struct HTTPEventFeed: EventFeed {
    /// The owner's replicas: any of them reads the same store.
    public let addresses: PeerAddresses
    let httpClient: HTTPClient
    let timeout: TimeAmount

    public init(addresses: PeerAddresses, httpClient: HTTPClient = .slipwayInternal, timeout: TimeAmount = .seconds(10)) {
        self.addresses = addresses
        self.httpClient = httpClient
        self.timeout = timeout
    }

    public init(baseURL: String, httpClient: HTTPClient = .slipwayInternal, timeout: TimeAmount = .seconds(10)) {
        self.init(addresses: PeerAddresses([baseURL]), httpClient: httpClient, timeout: timeout)
    }

    public func events(after position: Int64, limit: Int) async throws -> [EventEnvelope] {
        try await addresses.withFailover { baseURL in
            var request = HTTPClientRequest(url: "\(baseURL)/internal/events?after=\(position)&limit=\(limit)")
            request.headers.add(name: "Accept", value: EventFeedFormat.protobufContentType)
            let response = try await httpClient.execute(request, timeout: timeout)
            let body = try await response.body.collect(upTo: 256 * 1024 * 1024)
            guard response.status == .ok else {
                throw EventFeedError(url: request.url, status: Int(response.status.code), body: String(buffer: body))
            }
            let batch = try EventEnvelopeBatch(serializedBytes: Array(body.readableBytesView))
            return batch.events
        }
    }
}

public struct EventFeedError: Error, CustomStringConvertible {
    public let url: String
    public let status: Int
    public let body: String
    public var description: String { "event feed \(url) answered \(status): \(body.prefix(200))" }
}

public enum EventFeedFormat {
    public static let protobufContentType = "application/x-protobuf"
    public static let maxLimit = 10_000
}

/// A service's own published events, read straight from its store (used in-process and by tests).
public struct LocalEventFeed: EventFeed {
    let store: EventStore
    public init(store: EventStore) { self.store = store }

    public func events(after position: Int64, limit: Int) async throws -> [EventEnvelope] {
        try await store.feed(after: position, limit: limit).map { $0.envelope(sourceService: store.service) }
    }
}

extension HTTPClient {
    /// For calls between Slipway processes: a service that is down fails the call at once instead of
    /// being retried until the request's deadline (AsyncHTTPClient's default), so callers can answer
    /// 502 or try again later on their own schedule.
    public static let slipwayInternal: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.timeout.connect = .seconds(2)
        configuration.connectionPool.retryConnectionEstablishment = false
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }()
}
