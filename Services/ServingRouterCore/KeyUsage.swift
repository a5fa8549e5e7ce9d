import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import ServiceLifecycle
import SlipwayEventSourcing
import Synchronization

/// Counts requests per API key and endpoint, and reports them to deploy-svc
/// (`POST {deploy-url}/internal/api-keys/usage`, any replica), which records them as `ApiKeyUsed` events.
/// A failed report keeps its counts for the next one.
final class KeyUsage: Sendable {
    struct Key: Hashable, Sendable {
        let apiKeyID: String
        let endpointID: String
    }

    struct Usage: Sendable, Equatable {
        var lastUsedAt: Date
        var requestCount: Int
    }

    struct Report: Codable, Sendable, Equatable {
        struct Entry: Codable, Sendable, Equatable {
            var apiKeyID: String
            var endpointID: String
            var lastUsedAt: String
            var requestCount: Int
            enum CodingKeys: String, CodingKey {
                case apiKeyID = "api_key_id", endpointID = "endpoint_id", lastUsedAt = "last_used_at", requestCount = "request_count"
            }
        }
        var usage: [Entry]
    }

    private let pending = Mutex<[Key: Usage]>([:])

    func record(apiKeyID: String, endpointID: String, at date: Date) {
        pending.withLock { all in
            let key = Key(apiKeyID: apiKeyID, endpointID: endpointID)
            var usage = all[key] ?? Usage(lastUsedAt: date, requestCount: 0)
            usage.lastUsedAt = max(usage.lastUsedAt, date)
            usage.requestCount += 1
            all[key] = usage
        }
    }

    /// Takes everything counted so far.
    func take() -> [Key: Usage] {
        pending.withLock { all in
            defer { all = [:] }
            return all
        }
    }

    /// Puts counts back after a failed report (merged with whatever arrived meanwhile).
    func restore(_ taken: [Key: Usage]) {
        pending.withLock { all in
            for (key, usage) in taken {
                if var current = all[key] {
                    current.requestCount += usage.requestCount
                    current.lastUsedAt = max(current.lastUsedAt, usage.lastUsedAt)
                    all[key] = current
                } else {
                    all[key] = usage
                }
            }
        }
    }

    static func report(_ taken: [Key: Usage]) -> Report {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return Report(
            usage: taken.sorted { ($0.key.apiKeyID, $0.key.endpointID) < ($1.key.apiKeyID, $1.key.endpointID) }.map {
                Report.Entry(
                    apiKeyID: $0.key.apiKeyID, endpointID: $0.key.endpointID, lastUsedAt: formatter.string(from: $0.value.lastUsedAt),
                    requestCount: $0.value.requestCount)
            })
    }

    /// Sends what was counted since the last report; on failure the counts stay for the next try.
    func flush(deploy: PeerAddresses, httpClient: HTTPClient, logger: Logger) async {
        let taken = take()
        guard !taken.isEmpty else { return }
        do {
            let body = ByteBuffer(bytes: try JSONEncoder().encode(Self.report(taken)))
            let response = try await deploy.withFailover { base in
                var request = HTTPClientRequest(url: base + "/internal/api-keys/usage")
                request.method = .POST
                request.headers.add(name: "Content-Type", value: "application/json")
                request.body = .bytes(body)
                return try await httpClient.execute(request, timeout: .seconds(10))
            }
            _ = try? await response.body.collect(upTo: 1024 * 1024)
            guard (200..<300).contains(Int(response.status.code)) else {
                throw SnapshotError(message: "deploy-svc answered \(response.status.code) to the usage report")
            }
            logger.debug("key usage reported", metadata: [LogKey.routerKeys: "\(taken.count)"])
        } catch {
            restore(taken)
            logger.warning("key usage report failed; kept for the next one", metadata: [LogKey.error: "\(error)"])
        }
    }

    func run(intervalSeconds: Int, deploy: PeerAddresses, httpClient: HTTPClient, logger: Logger) async {
        var last = ContinuousClock.now
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            try? await Task.sleep(for: .milliseconds(200))
            guard ContinuousClock.now - last >= .seconds(intervalSeconds) else { continue }
            last = ContinuousClock.now
            await flush(deploy: deploy, httpClient: httpClient, logger: logger)
        }
        // Last report on shutdown (best effort).
        await flush(deploy: deploy, httpClient: httpClient, logger: logger)
    }
}
