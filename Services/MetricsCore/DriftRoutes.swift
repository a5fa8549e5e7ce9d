import Foundation
import Hummingbird
import SlipwayPlatform
import SlipwayStatistics

/// Drift of an endpoint's request features: the spec's `GET /api/v1/monitoring/drift/{endpoint_id}`. The baseline
/// is a past serving window (the `baseline_days` before the comparison window, from the feature samples metrics-svc
/// keeps per endpoint-minute), or the serving version's training data (`baseline=training`, from the baseline its
/// trainer stored beside the bundle).
struct DriftRoutes: Sendable {
    let environment: ServiceEnvironment
    let now: @Sendable () -> Date
    /// Shared with the health route: a page asking for both at once reads the samples once.
    let analyses: DriftAnalyses

    var collection: RouteCollection<SlipwayRequestContext> {
        let routes = RouteCollection(context: SlipwayRequestContext.self)
        routes.get(
            "/api/v1/monitoring/drift/:endpoint_id",
            RouteDoc(
                "Drift of an endpoint's request features",
                details: """
                    `endpoint_id` takes an endpoint's id or name. The requests of the comparison window are compared with a \
                    past serving window (`baseline_days` before it) or with the training data of a version \
                    (`baseline=training`). `baseline_days` goes only with a serving baseline, `model_version_id` only with a \
                    training one. 409 when a training baseline cannot be had: no requests say which version serves, or the \
                    version's bundle is not local or holds no baseline. With `recorded_within_minutes`, the newest hourly \
                    analysis answers when it is at most that old (the hourly windows: a serving baseline of 7 days against 24 \
                    hours), else one made now; `analyzed_at` says which.
                    """,
                query: [
                    .string("baseline", "What the requests are compared with (default serving)", oneOf: ["serving", "training"]),
                    .integer("baseline_days", "A serving baseline's length in days", in: 1...30, default: 7),
                    .string(
                        "model_version_id", "A training baseline's version (default: the one that answered most of the comparison window)"),
                    .integer("comparison_hours", "The comparison window: this many hours until now", in: 1...168, default: 24),
                    .integer("recorded_within_minutes", "Answer with the newest hourly analysis when it is at most this old", in: 1...1440),
                ]),
            use: drift)
        routes.get(
            "/api/v1/monitoring/drift/:endpoint_id/reports",
            RouteDoc(
                "An endpoint's scheduled drift analyses, newest first", details: "`endpoint_id` takes an endpoint's id or name.",
                query: [
                    .integer("limit", "How many reports", in: 1...500, default: 24),
                    .dateTime("before", "Only analyses made before this instant (a page further back, as a model's timeline reads)"),
                ]),
            use: reports)
        return routes
    }

    struct PeriodJSON: Codable, Sendable {
        let start: Date
        let end: Date
        /// Sampled request instances compared.
        let rows: Int
    }

    /// What the requests were compared with: a past serving window, or a version's training rows.
    struct BaselineJSON: Codable, Sendable {
        /// `serving` or `training`.
        let kind: String
        @Nullable var start: Date?
        @Nullable var end: Date?
        /// Sampled request instances (serving), or training rows (training).
        let rows: Int
        @Nullable var modelVersionId: String?
        @Nullable var versionNumber: Int?
    }

    struct DriftJSON: ResponseEncodable, Decodable, Sendable {
        let endpointId: String
        @Nullable var endpointName: String?
        let baseline: BaselineJSON
        let comparison: PeriodJSON
        /// `ok`, or `insufficient_data` when no feature had enough rows on both sides for a verdict.
        let status: String
        let driftDetected: Bool
        let driftScore: Double
        let severity: String
        let affectedFeatures: [String]
        let features: [FeatureDriftResult]
        /// The instant the analysis is as of: now, or the hourly analysis's.
        let analyzedAt: Date
    }

    /// `?baseline=serving` (default) with `&baseline_days=` (1–30, default 7), or `?baseline=training` with an optional
    /// `&model_version_id=` (default: the version that answered most of the comparison window); `&comparison_hours=`
    /// (1–168, default 24).
    @Sendable func drift(_ request: Request, context: SlipwayRequestContext) async throws -> DriftJSON {
        let parameters = request.uri.queryParameters
        let kind = parameters.nonEmpty("baseline") ?? "serving"
        guard kind == "serving" || kind == "training" else { throw APIError.badRequest("baseline is serving or training", field: "baseline") }
        if kind == "training", parameters.nonEmpty("baseline_days") != nil {
            throw APIError.badRequest(
                "baseline_days is the serving baseline's; a training baseline is the version's training rows", field: "baseline_days")
        }
        if kind == "serving", parameters.nonEmpty("model_version_id") != nil {
            throw APIError.badRequest("model_version_id picks a training baseline; add baseline=training", field: "model_version_id")
        }
        let baselineDays = try parameters.integer("baseline_days", default: 7, in: 1...30)
        let comparisonHours = try parameters.integer("comparison_hours", default: 24, in: 1...168)
        var recordedWithin: Int?
        if parameters.nonEmpty("recorded_within_minutes") != nil {
            guard kind == "serving", baselineDays == DriftMonitor.baselineDays, comparisonHours == DriftMonitor.comparisonHours else {
                throw APIError.badRequest(
                    "recorded_within_minutes reads the hourly analysis: a serving baseline of \(DriftMonitor.baselineDays) days against "
                        + "\(DriftMonitor.comparisonHours) hours", field: "recorded_within_minutes")
            }
            recordedWithin = try parameters.integer("recorded_within_minutes", default: 120, in: 1...1440)
        }
        let queries = MetricsQueries(client: environment.postgres, logger: environment.logger)
        let endpoint = try await queries.requireEndpoint(try context.parameters.require("endpoint_id"), field: "endpoint_id")
        let end = now()
        if let recordedWithin,
            let recorded = try await recordedAnalysis(endpoint: endpoint, since: end.addingTimeInterval(-Double(recordedWithin) * 60))
        {
            return recorded
        }
        let report: DriftReport
        let baseline: BaselineJSON
        if kind == "training" {
            let comparisonStart = end.addingTimeInterval(-Double(comparisonHours) * 3600)
            let version = try await trainedVersion(parameters.nonEmpty("model_version_id"), endpointID: endpoint.id, since: comparisonStart)
            let comparison = try await ServingRollupStore.samples(
                endpointID: endpoint.id, from: comparisonStart, to: end.addingTimeInterval(1), maxRows: DriftReport.maxRows,
                client: environment.postgres, logger: environment.logger)
            report = DriftReport(training: version.baseline, comparison: comparison, comparisonStart: comparisonStart)
            baseline = BaselineJSON(kind: kind, rows: version.baseline.rows, modelVersionId: version.id, versionNumber: version.number)
        } else {
            report = try await analyses.measure(endpointID: endpoint.id, baselineDays: baselineDays, comparisonHours: comparisonHours, end: end)
            baseline = BaselineJSON(kind: kind, start: report.baselineStart, end: report.comparisonStart, rows: report.baselineRows)
        }
        let summary = report.summary
        return DriftJSON(
            endpointId: endpoint.id, endpointName: endpoint.name, baseline: baseline,
            comparison: PeriodJSON(start: report.comparisonStart, end: end, rows: report.comparisonRows), status: summary.status.rawValue,
            driftDetected: summary.driftDetected, driftScore: summary.driftScore, severity: summary.severity.rawValue,
            affectedFeatures: summary.affectedFeatures, features: summary.results, analyzedAt: end)
    }

    /// The endpoint's newest hourly analysis made since `since`, as the route answers; nil when there is none, or it was
    /// recorded before reports kept each feature's result.
    func recordedAnalysis(endpoint: ServedEndpoint, since: Date) async throws -> DriftJSON? {
        let rows = try await environment.postgres.query(
            """
            SELECT analyzed_at, baseline_start, comparison_start, status, drift_detected, drift_score, severity, affected_features::text,
                baseline_rows, comparison_rows, features::text
            FROM drift_reports WHERE endpoint_id = \(endpoint.id) AND analyzed_at >= \(since) AND features <> '[]'::jsonb
            ORDER BY analyzed_at DESC, id DESC LIMIT 1
            """, logger: environment.logger)
        for try await row in rows {
            let c = row.makeRandomAccess()
            let analyzedAt = try c[0].decode(Date.self)
            let comparisonStart = try c[2].decode(Date.self)
            return DriftJSON(
                endpointId: endpoint.id, endpointName: endpoint.name,
                baseline: BaselineJSON(
                    kind: "serving", start: try c[1].decode(Date.self), end: comparisonStart, rows: Int(try c[8].decode(Int64.self))),
                comparison: PeriodJSON(start: comparisonStart, end: analyzedAt, rows: Int(try c[9].decode(Int64.self))),
                status: try c[3].decode(String.self), driftDetected: try c[4].decode(Bool.self), driftScore: try c[5].decode(Double.self),
                severity: try c[6].decode(String.self),
                affectedFeatures: try JSONDecoder().decode([String].self, from: Data(try c[7].decode(String.self).utf8)),
                features: try PlatformJSON.decoder.decode([FeatureDriftResult].self, from: Data(try c[10].decode(String.self).utf8)),
                analyzedAt: analyzedAt)
        }
        return nil
    }

    /// The version whose training data is the baseline, with that baseline: the one named, else the one that answered most
    /// of the endpoint's requests since `since`. Its bundle must be a local directory holding a baseline.
    func trainedVersion(_ named: String?, endpointID: String, since: Date) async throws -> (id: String, number: Int, baseline: TrainingBaseline) {
        var versionID = named
        if versionID == nil {
            let rows = try await environment.postgres.query(
                """
                SELECT model_version_id FROM serving_rollups
                WHERE endpoint_id = \(endpointID) AND granularity_s = 60 AND bucket_start >= \(since) AND model_version_id <> ''
                GROUP BY model_version_id ORDER BY sum(requests) DESC, model_version_id LIMIT 1
                """, logger: environment.logger)
            for try await id in rows.decode(String.self) { versionID = id }
        }
        guard let versionID else {
            throw APIError.conflict("no requests in the comparison window say which version serves; pass model_version_id")
        }
        let rows = try await environment.postgres.query(
            """
            SELECT artifact_uri, version_number FROM served_deployments WHERE model_version_id = \(versionID) AND artifact_uri <> ''
            ORDER BY requested_at DESC LIMIT 1
            """, logger: environment.logger)
        var found: (uri: String, number: Int)?
        for try await (uri, number) in rows.decode((String, Int).self) { found = (uri, number) }
        guard let found else {
            throw APIError.notFound("no deployment of model version '\(versionID)' is known here (model_version_id)")
        }
        let directory: URL
        if found.uri.hasPrefix("/") {
            directory = URL(fileURLWithPath: found.uri)
        } else if found.uri.hasPrefix("file://"), let url = URL(string: found.uri) {
            directory = url
        } else {
            throw APIError.conflict("v\(found.number)'s bundle is at \(found.uri); metrics-svc reads training baselines from local bundles only")
        }
        let baseline: TrainingBaseline?
        do { baseline = try TrainingBaseline.load(bundle: directory) } catch {
            throw APIError.conflict("v\(found.number)'s training baseline in \(directory.path) cannot be read: \(error)")
        }
        guard let baseline else {
            throw APIError.conflict(
                "v\(found.number)'s bundle has no training baseline (\(TrainingBaseline.fileName)): it was trained before Slipway kept one, or elsewhere"
            )
        }
        return (versionID, found.number, baseline)
    }

    struct ReportJSON: Codable, Sendable {
        let id: String
        let analyzedAt: Date
        let baselineStart: Date
        let comparisonStart: Date
        let status: String
        let driftDetected: Bool
        let driftScore: Double
        let severity: String
        let affectedFeatures: [String]
        let baselineRows: Int64
        let comparisonRows: Int64
    }

    struct ReportsJSON: ResponseEncodable, Decodable, Sendable {
        let endpointId: String
        let reports: [ReportJSON]
    }

    /// The scheduled analyses (hourly, `DriftDetected`), newest first: `?limit=` (1–500, default 24).
    @Sendable func reports(_ request: Request, context: SlipwayRequestContext) async throws -> ReportsJSON {
        let limit = try request.uri.queryParameters.integer("limit", default: 24, in: 1...500)
        let before = try request.uri.queryParameters.instant("before")
        let queries = MetricsQueries(client: environment.postgres, logger: environment.logger)
        let endpoint = try await queries.requireEndpoint(try context.parameters.require("endpoint_id"), field: "endpoint_id")
        let rows = try await environment.postgres.query(
            """
            SELECT id, analyzed_at, baseline_start, comparison_start, status, drift_detected, drift_score, severity, affected_features::text,
                baseline_rows, comparison_rows
            FROM drift_reports WHERE endpoint_id = \(endpoint.id) AND (\(before == nil) OR analyzed_at < \(before ?? .distantFuture))
            ORDER BY analyzed_at DESC, id DESC LIMIT \(limit)
            """, logger: environment.logger)
        var reports: [ReportJSON] = []
        for try await row in rows {
            let c = row.makeRandomAccess()
            reports.append(
                ReportJSON(
                    id: try c[0].decode(String.self), analyzedAt: try c[1].decode(Date.self), baselineStart: try c[2].decode(Date.self),
                    comparisonStart: try c[3].decode(Date.self), status: try c[4].decode(String.self), driftDetected: try c[5].decode(Bool.self),
                    driftScore: try c[6].decode(Double.self), severity: try c[7].decode(String.self),
                    affectedFeatures: try JSONDecoder().decode([String].self, from: Data(try c[8].decode(String.self).utf8)),
                    baselineRows: try c[9].decode(Int64.self), comparisonRows: try c[10].decode(Int64.self)))
        }
        return ReportsJSON(endpointId: endpoint.id, reports: reports)
    }
}
