import Foundation
import Logging
import PostgresNIO
import SlipwayPlatform

/// Reads of deploy-svc's read model, shaped as the API's JSON (snake_case keys).
struct DeployQueries: Sendable {
    let environment: ServiceEnvironment
    var logger: Logger { environment.logger }

    struct Version: Sendable {
        var id: String
        var artifactURI: String
        var blessed: Bool
        var metrics: [String: Double]
        var sourceRunID: String
    }

    func knownModel(_ name: String) async throws -> String {
        let rows = try await environment.postgres.query("SELECT name FROM known_models WHERE name = \(name) AND NOT deleted", logger: logger)
        for try await found in rows.decode(String.self) { return found }
        throw APIError.notFound("no registered model '\(name)'")
    }

    func version(model: String, number: Int32) async throws -> Version? {
        let rows = try await environment.postgres.query("""
            SELECT version_id, artifact_uri, blessed, metrics, source_run_id FROM known_versions
            WHERE model_name = \(model) AND version_number = \(Int(number))
            """, logger: logger)
        for try await (id, uri, blessed, metrics, run) in rows.decode((String, String, Bool, String, String).self) {
            let decoded = (try? JSONDecoder().decode([String: Double].self, from: Data(metrics.utf8))) ?? [:]
            return Version(id: id, artifactURI: uri, blessed: blessed, metrics: decoded, sourceRunID: run)
        }
        return nil
    }

    /// The model and version a training run registered.
    func version(ofRun run: String) async throws -> (String, Int32)? {
        let rows = try await environment.postgres.query("""
            SELECT model_name, version_number FROM known_versions WHERE source_run_id = \(run) ORDER BY version_number DESC LIMIT 1
            """, logger: logger)
        for try await (model, number) in rows.decode((String, Int).self) { return (model, Int32(number)) }
        return nil
    }

    /// The model owning endpoint `name`, or nil when there is no such (undeleted) endpoint.
    func endpointOwner(_ name: String) async throws -> String? {
        let rows = try await environment.postgres.query("SELECT model_name FROM endpoints WHERE name = \(name) AND NOT deleted", logger: logger)
        for try await model in rows.decode(String.self) { return model }
        return nil
    }

    func onlyEndpoint(model: String) async throws -> String? {
        let rows = try await environment.postgres.query("SELECT name FROM endpoints WHERE model_name = \(model) AND NOT deleted", logger: logger)
        var names: [String] = []
        for try await name in rows.decode(String.self) { names.append(name) }
        return names.count == 1 ? names[0] : nil
    }

    func servingEndpoints(model: String) async throws -> [String] {
        let rows = try await environment.postgres.query("""
            SELECT DISTINCT e.name FROM endpoints e JOIN deployments d ON d.endpoint_name = e.name
            WHERE e.model_name = \(model) AND NOT e.deleted AND (d.traffic_percent > 0 OR d.status IN ('requested', 'deploying', 'rolling_out'))
            ORDER BY e.name
            """, logger: logger)
        var names: [String] = []
        for try await name in rows.decode(String.self) { names.append(name) }
        return names
    }

    /// A deployment named by its id or by `vN` (the newest deployment of version N on the endpoint).
    func deploymentID(endpoint: String, reference: String, field: String) async throws -> String {
        let rows: PostgresRowSequence
        if reference.hasPrefix("v"), let number = Int(reference.dropFirst()) {
            rows = try await environment.postgres.query("""
                SELECT id FROM deployments WHERE endpoint_name = \(endpoint) AND version_number = \(number) ORDER BY number DESC LIMIT 1
                """, logger: logger)
        } else {
            rows = try await environment.postgres.query("SELECT id FROM deployments WHERE endpoint_name = \(endpoint) AND id = \(reference)", logger: logger)
        }
        for try await id in rows.decode(String.self) { return id }
        throw APIError.invalid("'\(endpoint)' has no deployment '\(reference)' (give a deployment id or vN)", field: field)
    }

    // MARK: - Views

    func endpoints(model: String) async throws -> [[String: Any]] {
        let rows = try await environment.postgres.query("SELECT name FROM endpoints WHERE model_name = \(model) AND NOT deleted ORDER BY name", logger: logger)
        var names: [String] = []
        for try await name in rows.decode(String.self) { names.append(name) }
        var result: [[String: Any]] = []
        for name in names { result.append(try await endpoint(name)) }
        return result
    }

    func endpoint(_ name: String) async throws -> [String: Any] {
        let rows = try await environment.postgres.query("""
            SELECT name, model_name, preset, resources, target, url, description, created_by, created_at, updated_at, active_deployment_id, version
            FROM endpoints WHERE name = \(name) AND NOT deleted
            """, logger: logger)
        var found: [String: Any]?
        for try await (name, model, preset, resources, target, url, description, by, createdAt, updatedAt, active, version)
            in rows.decode((String, String, String, String, String, String, String, String, Date, Date, String?, Int64).self) {
            found = [
                "name": name, "id": name, "model_name": model, "preset": preset, "resources": Self.object(resources), "target": target,
                "url": url, "description": description, "created_by": by, "created_at": Self.iso(createdAt), "updated_at": Self.iso(updatedAt),
                "version": version, "active_deployment_id": active ?? NSNull(),
            ]
        }
        guard var view = found else { throw APIError.notFound("no endpoint '\(name)'") }
        let deployments = try await self.deployments(where: "d.endpoint_name = $1", name)
        let serving = deployments.filter { ($0["traffic_percent"] as? Int ?? 0) > 0 }
        view["traffic"] = serving.map {
            ["deployment_id": $0["id"]!, "version": $0["version"]!, "percent": $0["traffic_percent"]!, "revision_id": $0["revision_id"]!] as [String: Any]
        }
        view["deployments"] = deployments
        view["active_deployment"] = deployments.first { $0["id"] as? String == view["active_deployment_id"] as? String } ?? NSNull()
        let inProgress = deployments.contains { ["requested", "deploying", "rolling_out"].contains($0["status"] as? String ?? "") }
        view["status"] = inProgress ? "deploying" : (serving.isEmpty ? "not_serving" : "serving")
        return view
    }

    func deployment(_ id: String) async throws -> [String: Any] {
        guard let found = try await deployments(where: "d.id = $1", id).first else { throw APIError.notFound("no deployment '\(id)'") }
        return found
    }

    /// Deployments (newest first) with their revision; `rollback_available` says whether a rollback to it is instant.
    func deployments(where condition: String, _ value: String) async throws -> [[String: Any]] {
        var binds = PostgresBindings()
        binds.append(value)
        let rows = try await environment.postgres.query(PostgresQuery(unsafeSQL: """
            SELECT d.id, d.endpoint_name, d.number, d.model_name, d.model_version_id, d.version_number, d.strategy, d.steps, d.force,
                   d.requested_by, d.reason, d.source_run_id, d.metrics, d.status, d.traffic_percent, d.step_index, d.error,
                   d.created_at, d.activated_at, d.ended_at, r.id, r.address, r.status, r.startup_ms, r.error
            FROM deployments d LEFT JOIN revisions r ON r.id = d.revision_id
            WHERE \(condition) ORDER BY d.created_at DESC, d.number DESC
            """, binds: binds), logger: logger)
        var result: [[String: Any]] = []
        for try await row in rows {
            let columns = row.makeRandomAccess()
            func column<T: PostgresDecodable>(_ index: Int, _ type: T.Type = T.self) throws -> T { try columns[index].decode(T.self) }
            let (id, endpoint, number, model, versionID) = (try column(0, String.self), try column(1, String.self), try column(2, Int.self),
                                                            try column(3, String.self), try column(4, String.self))
            let (version, strategy, steps, force, by) = (try column(5, Int.self), try column(6, String.self), try column(7, String.self),
                                                         try column(8, Bool.self), try column(9, String.self))
            let (reason, run, metrics, status, traffic) = (try column(10, String.self), try column(11, String.self), try column(12, String.self),
                                                           try column(13, String.self), try column(14, Int.self))
            let (step, error) = (try column(15, Int.self), try column(16, String.self))
            let createdAt = try columns[17].decode(Date.self)
            let activatedAt = try columns[18].decode(Date?.self)
            let endedAt = try columns[19].decode(Date?.self)
            let revisionID = try columns[20].decode(String?.self)
            var revision: Any = NSNull()
            if let revisionID {
                revision = [
                    "id": revisionID, "address": try columns[21].decode(String?.self) ?? NSNull(), "status": try columns[22].decode(String.self),
                    "startup_ms": try columns[23].decode(Int64?.self) ?? NSNull(), "error": try columns[24].decode(String.self),
                ] as [String: Any]
            }
            let warm = (revision as? [String: Any])?["status"] as? String == "ready"
            result.append([
                "id": id, "endpoint": endpoint, "number": number, "model_name": model, "model_version_id": versionID, "version": version,
                "strategy": strategy, "steps": Self.object(steps), "force": force, "requested_by": by, "reason": reason, "source_run_id": run,
                "metrics": Self.object(metrics), "status": status, "traffic_percent": traffic, "step_index": step, "error": error,
                "created_at": Self.iso(createdAt), "activated_at": activatedAt.map(Self.iso) ?? NSNull(), "ended_at": endedAt.map(Self.iso) ?? NSNull(),
                "revision_id": revisionID ?? NSNull(), "revision": revision,
                "rollback_available": traffic < 100 && ["inactive", "rolled_back", "active", "failed", "undeployed"].contains(status),
                "rollback_instant": traffic < 100 && warm,
            ])
        }
        return result
    }

    /// serving-router's table: every endpoint with its running revisions — those without a share too (percent
    /// 0), so a rollback to a warm revision finds its address — and every API key.
    func routingSnapshot() async throws -> [String: Any] {
        let endpointRows = try await environment.postgres.query("""
            SELECT e.name, e.model_name, e.version, r.id, r.deployment_id, r.address, r.traffic_percent, r.model_version_id, r.version_number
            FROM endpoints e LEFT JOIN revisions r ON r.endpoint_name = e.name AND r.status <> 'stopped' AND r.address IS NOT NULL
            WHERE NOT e.deleted ORDER BY e.name, r.id
            """, logger: logger)
        var endpoints: [String: [String: Any]] = [:]
        var order: [String] = []
        for try await (name, model, version, revision, deployment, address, percent, versionID, number)
            in endpointRows.decode((String, String, Int64, String?, String?, String?, Int?, String?, Int?).self) {
            if endpoints[name] == nil {
                order.append(name)
                endpoints[name] = ["endpoint_id": name, "name": name, "model_name": model, "version": version, "routes": [[String: Any]]()]
            }
            if let revision, let address {
                var routes = endpoints[name]!["routes"] as! [[String: Any]]
                routes.append(["revision_id": revision, "deployment_id": deployment ?? "", "address": address, "percent": percent ?? 0,
                               "model_version_id": versionID ?? "", "version_number": number ?? 0])
                endpoints[name]!["routes"] = routes
            }
        }
        let keyRows = try await environment.postgres.query("""
            SELECT id, model_name, key_sha256, is_active AND (expires_at IS NULL OR expires_at > now()), version FROM api_keys ORDER BY id
            """, logger: logger)
        var keys: [[String: Any]] = []
        for try await (id, model, hash, active, version) in keyRows.decode((String, String, String, Bool, Int64).self) {
            keys.append(["api_key_id": id, "model_name": model, "key_sha256": hash, "active": active, "version": version])
        }
        return ["endpoints": order.map { endpoints[$0]! }, "api_keys": keys]
    }

    static func object(_ json: String) -> Any {
        (try? JSONSerialization.jsonObject(with: Data(json.utf8), options: [.fragmentsAllowed])) ?? NSNull()
    }

    static func iso(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }
}
