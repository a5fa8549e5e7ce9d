import Foundation
import Logging
import NIOCore
import PostgresNIO
import SlipwayEventSourcing
import SlipwayStatistics

/// `serving_rollups`: one row per bucket × endpoint × deployment × revision × API key, sketches as bytea.
/// A batch is merged in with one read of the rows it touches and one multi-row upsert.
public enum ServingRollupStore {
    public static let migrations = [
        Migration(
            1, "serving rollups",
            [
                """
                CREATE TABLE serving_rollups (
                    endpoint_id text NOT NULL,
                    granularity_s integer NOT NULL,
                    bucket_start timestamptz NOT NULL,
                    deployment_id text NOT NULL,
                    revision_id text NOT NULL,
                    api_key_id text NOT NULL,
                    requests bigint NOT NULL,
                    successes bigint NOT NULL,
                    client_errors bigint NOT NULL,
                    server_errors bigint NOT NULL,
                    instances bigint NOT NULL,
                    max_instances integer NOT NULL,
                    top_k_sum bigint NOT NULL,
                    top_k_requests bigint NOT NULL,
                    logs_dropped bigint NOT NULL,
                    latency bytea NOT NULL,
                    upstream_latency bytea NOT NULL,
                    customers bytea NOT NULL,
                    model_version_id text NOT NULL,
                    version_number integer NOT NULL,
                    last_received_at timestamptz,
                    PRIMARY KEY (endpoint_id, granularity_s, bucket_start, deployment_id, revision_id, api_key_id))
                """,
                "CREATE INDEX serving_rollups_by_deployment ON serving_rollups (deployment_id, granularity_s, bucket_start)",
                "CREATE INDEX serving_rollups_by_revision ON serving_rollups (revision_id, granularity_s, bucket_start)",
            ]),
        Migration(
            2, "feature samples",
            [
                """
                CREATE TABLE feature_samples (endpoint_id text NOT NULL, bucket_start timestamptz NOT NULL, sample bytea NOT NULL,
                    sampled_rows integer NOT NULL, PRIMARY KEY (endpoint_id, bucket_start))
                """
            ]
        ),
    ]

    /// Merges `cells` into the stored rows (inside the caller's transaction, which also stores the offsets).
    public static func merge(_ cells: [RollupKey: RollupCell], on connection: PostgresConnection, logger: Logger) async throws {
        guard !cells.isEmpty else { return }
        var merged = cells
        let keys = Array(cells.keys)
        let rows = try await connection.query(
            """
            SELECT \(unescaped: columns) FROM serving_rollups
            WHERE (endpoint_id, granularity_s, bucket_start, deployment_id, revision_id, api_key_id) IN (
                SELECT * FROM unnest(\(keys.map(\.endpointID)), \(keys.map(\.granularity.rawValue)), \(keys.map(\.bucketStart)),
                                     \(keys.map(\.deploymentID)), \(keys.map(\.revisionID)), \(keys.map(\.apiKeyID))))
            FOR UPDATE
            """, logger: logger)
        for try await row in rows {
            let (key, stored) = try decode(row)
            merged[key]?.merge(stored)
        }
        try await write(merged, on: connection, logger: logger)
    }

    /// Merges endpoint-minute feature samples into the stored ones (same transaction as the rollups).
    public static func merge(_ samples: [SampleKey: FeatureSample], on connection: PostgresConnection, logger: Logger) async throws {
        guard !samples.isEmpty else { return }
        var merged = samples
        let keys = Array(samples.keys)
        let rows = try await connection.query(
            """
            SELECT endpoint_id, bucket_start, sample FROM feature_samples
            WHERE (endpoint_id, bucket_start) IN (SELECT * FROM unnest(\(keys.map(\.endpointID)), \(keys.map(\.minute))))
            FOR UPDATE
            """, logger: logger)
        for try await (endpoint, minute, bytes) in rows.decode((String, Date, ByteBuffer).self) {
            merged[SampleKey(endpointID: endpoint, minute: minute)]?.merge(try FeatureSample(serialized: Array(buffer: bytes)))
        }
        let entries = Array(merged)
        let bytes = try entries.map { ByteBuffer(bytes: try $0.value.serialized()) }
        try await connection.query(
            """
            INSERT INTO feature_samples (endpoint_id, bucket_start, sample, sampled_rows)
            SELECT * FROM unnest(\(entries.map(\.key.endpointID)), \(entries.map(\.key.minute)), \(bytes), \(entries.map { Int32($0.value.rows.count) }))
            ON CONFLICT (endpoint_id, bucket_start) DO UPDATE SET sample = EXCLUDED.sample, sampled_rows = EXCLUDED.sampled_rows
            """, logger: logger)
    }

    /// Feature samples of an endpoint in `[from, to)`: every stored minute when they hold at most `maxRows` rows, else
    /// every n-th minute so that about `maxRows` remain (a busy week is a million sampled rows; drift needs far fewer).
    public static func samples(endpointID: String, from: Date, to: Date, maxRows: Int, client: PostgresClient, logger: Logger) async throws
        -> FeatureColumns
    {
        // Two index range scans: the count first, then the samples — every one, or every n-th minute. (One query with
        // the count as a window over the rows sorted and joined every sample of the endpoint: 35 ms for a week of
        // minutes, against 8 ms.)
        var total: Int64 = 0
        let counted = try await client.query(
            """
            SELECT coalesce(sum(sampled_rows), 0)::bigint FROM feature_samples
            WHERE endpoint_id = \(endpointID) AND bucket_start >= \(from) AND bucket_start < \(to)
            """, logger: logger)
        for try await sum in counted.decode(Int64.self) { total = sum }
        let every = Int64((Double(total) / Double(max(maxRows, 1))).rounded(.up))
        let rows =
            every <= 1
            ? try await client.query(
                """
                SELECT sample FROM feature_samples
                WHERE endpoint_id = \(endpointID) AND bucket_start >= \(from) AND bucket_start < \(to) ORDER BY bucket_start
                """, logger: logger)
            : try await client.query(
                """
                SELECT sample FROM (
                    SELECT sample, row_number() OVER (ORDER BY bucket_start) AS n FROM feature_samples
                    WHERE endpoint_id = \(endpointID) AND bucket_start >= \(from) AND bucket_start < \(to)) numbered
                WHERE n % \(every) = 0
                """, logger: logger)
        var columns = FeatureColumns()
        for try await bytes in rows.decode(ByteBuffer.self) { try columns.append(serialized: Array(buffer: bytes)) }
        return columns
    }

    static func write(_ cells: [RollupKey: RollupCell], on connection: PostgresConnection, logger: Logger) async throws {
        let entries = Array(cells)
        let keys = entries.map(\.key)
        let values = entries.map(\.value)
        func bytes(_ serialized: [UInt8]) -> ByteBuffer { ByteBuffer(bytes: serialized) }
        try await connection.query(
            """
            INSERT INTO serving_rollups (\(unescaped: columns))
            SELECT * FROM unnest(
                \(keys.map(\.endpointID)), \(keys.map(\.granularity.rawValue)), \(keys.map(\.bucketStart)), \(keys.map(\.deploymentID)),
                \(keys.map(\.revisionID)), \(keys.map(\.apiKeyID)), \(values.map(\.requests)), \(values.map(\.successes)),
                \(values.map(\.clientErrors)), \(values.map(\.serverErrors)), \(values.map(\.instances)), \(values.map(\.maxInstances)),
                \(values.map(\.topKSum)), \(values.map(\.topKRequests)), \(values.map(\.logsDropped)),
                \(values.map { bytes($0.latency.serialized()) }), \(values.map { bytes($0.upstreamLatency.serialized()) }),
                \(values.map { bytes($0.customers.serialized()) }), \(values.map(\.modelVersionID)), \(values.map(\.versionNumber)),
                \(values.map { $0.lastReceivedAt ?? Date(timeIntervalSince1970: 0) }))
            ON CONFLICT (endpoint_id, granularity_s, bucket_start, deployment_id, revision_id, api_key_id) DO UPDATE SET
                requests = EXCLUDED.requests, successes = EXCLUDED.successes, client_errors = EXCLUDED.client_errors,
                server_errors = EXCLUDED.server_errors, instances = EXCLUDED.instances, max_instances = EXCLUDED.max_instances,
                top_k_sum = EXCLUDED.top_k_sum, top_k_requests = EXCLUDED.top_k_requests, logs_dropped = EXCLUDED.logs_dropped,
                latency = EXCLUDED.latency, upstream_latency = EXCLUDED.upstream_latency, customers = EXCLUDED.customers,
                model_version_id = EXCLUDED.model_version_id, version_number = EXCLUDED.version_number,
                last_received_at = EXCLUDED.last_received_at
            """, logger: logger)
    }

    /// Which rows a query reads: one endpoint's, one deployment's, one revision's, or every endpoint's.
    public enum Scope: Sendable {
        case endpoint(String)
        case deployment(String)
        /// One revision's (a rollout step's figures).
        case revision(String)
        case all
    }

    /// The rows that answer `window` (its minute buckets and its hour buckets, as it planned them).
    public static func cells(_ scope: Scope, window: ServingWindow, client: PostgresClient, logger: Logger) async throws -> [(RollupKey, RollupCell)]
    {
        var endpoint = ""
        var deployment = ""
        var revision = ""
        switch scope {
        case .endpoint(let id): endpoint = id
        case .deployment(let id): deployment = id
        case .revision(let id): revision = id
        case .all: break
        }
        // Parameters are planned per execution (unnamed statements), so the empty-filter branches fold away.
        let rows = try await client.query(
            """
            SELECT \(unescaped: columns) FROM serving_rollups
            WHERE (\(endpoint) = '' OR endpoint_id = \(endpoint)) AND (\(deployment) = '' OR deployment_id = \(deployment))
              AND (\(revision) = '' OR revision_id = \(revision))
              AND ((granularity_s = 60 AND bucket_start >= \(window.minutes.lowerBound) AND bucket_start < \(window.minutes.upperBound))
                OR (granularity_s = 3600 AND bucket_start >= \(window.hoursFrom) AND bucket_start <= \(window.end)))
            """, logger: logger)
        var cells: [(RollupKey, RollupCell)] = []
        for try await row in rows { cells.append(try decode(row)) }
        return cells
    }

    /// The rows of `window` merged into the views the routes and the alert evaluator read.
    public static func figures(_ scope: Scope, window: ServingWindow, client: PostgresClient, logger: Logger) async throws
        -> ServingFiguresBuilder
    {
        var figures = ServingFiguresBuilder(window: window)
        for (key, cell) in try await cells(scope, window: window, client: client, logger: logger) { figures.add(key, cell) }
        return figures
    }

    /// The columns in the order `decode` reads them.
    static let columns = """
        endpoint_id, granularity_s, bucket_start, deployment_id, revision_id, api_key_id, requests, successes, client_errors, \
        server_errors, instances, max_instances, top_k_sum, top_k_requests, logs_dropped, latency, upstream_latency, customers, \
        model_version_id, version_number, last_received_at
        """

    static func decode(_ row: PostgresRow) throws -> (RollupKey, RollupCell) {
        let columns = row.makeRandomAccess()
        let granularity = try columns[1].decode(Int32.self)
        var cell = RollupCell()
        cell.requests = try columns[6].decode(Int64.self)
        cell.successes = try columns[7].decode(Int64.self)
        cell.clientErrors = try columns[8].decode(Int64.self)
        cell.serverErrors = try columns[9].decode(Int64.self)
        cell.instances = try columns[10].decode(Int64.self)
        cell.maxInstances = try columns[11].decode(Int32.self)
        cell.topKSum = try columns[12].decode(Int64.self)
        cell.topKRequests = try columns[13].decode(Int64.self)
        cell.logsDropped = try columns[14].decode(Int64.self)
        cell.latency = try LatencySketch(serialized: Array(buffer: try columns[15].decode(ByteBuffer.self)))
        cell.upstreamLatency = try LatencySketch(serialized: Array(buffer: try columns[16].decode(ByteBuffer.self)))
        cell.customers = try HyperLogLog(serialized: Array(buffer: try columns[17].decode(ByteBuffer.self)))
        cell.modelVersionID = try columns[18].decode(String.self)
        cell.versionNumber = try columns[19].decode(Int32.self)
        let last = try columns[20].decode(Date?.self)
        cell.lastReceivedAt = last.flatMap { $0.timeIntervalSince1970 > 0 ? $0 : nil }
        guard let granularity = RollupGranularity(rawValue: granularity) else {
            throw RollupDecodingError(message: "unknown granularity \(granularity)")
        }
        let key = RollupKey(
            granularity: granularity, bucketStart: try columns[2].decode(Date.self), endpointID: try columns[0].decode(String.self),
            deploymentID: try columns[3].decode(String.self), revisionID: try columns[4].decode(String.self),
            apiKeyID: try columns[5].decode(String.self))
        return (key, cell)
    }
}

struct RollupDecodingError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}
