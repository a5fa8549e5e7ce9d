import Foundation
import HTTPTypes

/// A model's deployment tab: the specification's deployment dashboard. *Current production* — each serving endpoint
/// with its version, run, lineage, Recall@100, when and by whom it was deployed, its URL and today's predictions,
/// latency and errors; *available for deployment* — the blessed versions not serving, each compared with the current
/// one and deployed through a confirmation dialog (the comparison metric by metric, immediate or gradual, the
/// endpoint); the *version history* with a rollback to any version the main endpoint can serve again; and every
/// endpoint of the model with its undeploy.
extension WebPages {
    /// What the dashboard shows, read from the registry, deploy-svc and metrics-svc.
    struct DeploymentDashboard {
        /// A serving endpoint, with today's figures of the deployment that has most of its traffic.
        struct Live {
            var endpoint: EndpointDetail
            var today: Result<DeploymentToday, PageProblem>?
        }

        var model: ModelDetail
        var versions: [ModelVersions.Version]
        var endpoints: [ModelEndpoints.Endpoint]
        var live: [Live]

        /// The endpoint the dashboard compares with and rolls back: the first serving one by name.
        var main: Live? { live.first }

        /// The version with most of the main endpoint's traffic.
        var current: ModelVersions.Version? {
            guard let share = main?.endpoint.traffic.max(by: { $0.percent < $1.percent }) else { return nil }
            return versions.first { $0.version == share.version }
        }
    }

    func deployment(_ model: ModelDetail, for user: User) async throws -> Result<String, PageProblem> {
        let segment = Self.pathSegment(model.modelName)
        async let versionsAnswer = read(ModelVersions.self, from: "registry", "/api/registered-models/\(segment)/versions", for: user)
        var endpoints: [ModelEndpoints.Endpoint] = []
        switch try await read(ModelEndpoints.self, from: "deploy", "/api/models/\(segment)/endpoints", for: user) {
        case .success(let list): endpoints = list.endpoints
        // deploy-svc learns of a model from the registry's events: until then it has no endpoints for it.
        case .failure(let problem) where problem.status == .notFound: break
        case .failure(let problem): return .failure(problem)
        }
        let versions: [ModelVersions.Version]
        switch try await versionsAnswer {
        case .success(let list): versions = list.versions
        case .failure(let problem): return .failure(problem)
        }
        // Each serving endpoint's deployments, and today's figures of its main deployment, all at once.
        let serving = endpoints.filter { $0.status != "not_serving" }.sorted { $0.name < $1.name }
        var live: [DeploymentDashboard.Live] = []
        for endpoint in serving {
            switch try await read(EndpointDetail.self, from: "deploy", "/api/endpoints/" + Self.pathSegment(endpoint.name), for: user) {
            case .success(let detail): live.append(.init(endpoint: detail))
            case .failure(let problem): return .failure(problem)
            }
        }
        try await withThrowingTaskGroup(of: (Int, Result<DeploymentToday, PageProblem>).self) { group in
            for (index, one) in live.enumerated() {
                guard let deployment = Self.mainDeployment(one.endpoint) else { continue }
                group.addTask {
                    (
                        index,
                        try await self.read(
                            DeploymentToday.self, from: "metrics", "/api/deployments/\(Self.pathSegment(deployment.id))/metrics?hours=1", for: user)
                    )
                }
            }
            for try await (index, today) in group { live[index].today = today }
        }
        let dashboard = DeploymentDashboard(model: model, versions: versions, endpoints: endpoints, live: live)
        return .success(Self.deploymentDashboard(dashboard, canEdit: user.role != "viewer"))
    }

    /// The serving deployment with most of an endpoint's traffic.
    static func mainDeployment(_ endpoint: EndpointDetail) -> EndpointDetail.Deployment? {
        endpoint.deployments.filter { $0.trafficPercent > 0 }.max { ($0.trafficPercent, $0.number) < ($1.trafficPercent, $1.number) }
    }

    static func deploymentDashboard(_ dashboard: DeploymentDashboard, canEdit: Bool) -> String {
        var html = "<h2>Current production</h2>"
        if dashboard.live.isEmpty {
            html += #"<p class="muted">Not serving anywhere.</p>"#
        } else {
            html += dashboard.live.map { production($0, versions: dashboard.versions) }.joined()
        }
        html += available(dashboard, canEdit: canEdit)
        html += versionHistory(dashboard, canEdit: canEdit)
        html += "<h2>Endpoints</h2>" + endpointsTable(dashboard.endpoints, canEdit: canEdit)
        return html + #"<p class="error" role="alert" id="action-error" hidden></p>"#
    }

    static func percent(_ value: Double?) -> String { value.map { String(format: "%.1f %%", $0 * 100) } ?? "—" }

    /// One serving endpoint: what it serves, since when, its URL and today's figures.
    static func production(_ live: DeploymentDashboard.Live, versions: [ModelVersions.Version]) -> String {
        let endpoint = live.endpoint
        let path = "/endpoints/" + pathSegment(endpoint.name)
        let split = endpoint.traffic.sorted { $0.percent > $1.percent }.map { "v\($0.version) \($0.percent) %" }.joined(separator: " · ")
        guard let deployment = mainDeployment(endpoint) else {
            return
                #"<section class="card production"><h3><a href="\#(path)">\#(HTML.escape(endpoint.name))</a> \#(badge(endpoint.status))</h3></section>"#
        }
        let version = versions.first { $0.version == deployment.version }
        let lineage =
            version.map { version in
                [("Run", #"<a href="/training/\#(pathSegment(version.sourceRunId))">#\#(version.runNumber)</a>"#)]
                    + [
                        ("Model config", version.lineage.modelConfigId), ("Features", version.lineage.featureConfigId),
                        ("Dataset", version.lineage.datasetId),
                    ]
                    .compactMap { label, value in value.map { (label, HTML.escape($0)) } }
            } ?? []
        let facts =
            (lineage + [
                ("Recall@100", percent(version?.metrics["recall_at_100"])),
                ("Deployed", "\(day(deployment.createdAt)) by \(HTML.escape(deployment.requestedBy))"),
            ]).map { "<div><dt>\($0.0)</dt><dd>\($0.1)</dd></div>" }.joined()
        let today: String
        switch live.today {
        case .success(let figures)?:
            today = """
                \(figures.today.predictions) predictions · average latency \(figures.today.avgLatencyMs.map { String(format: "%.1f ms", $0) } ?? "—") \
                · \(figures.today.errors) errors
                """
        case .failure(let problem)?: today = #"<span class="muted">\#(HTML.escape(problem.message))</span>"#
        case nil: today = "—"
        }
        let copy = "url-" + endpoint.name.filter { $0.isLetter || $0.isNumber || $0 == "-" }
        return """
            <section class="card production" aria-label="\(HTML.escape(endpoint.name)) in production">
            <h3><span class="badge deployed">live</span> v\(deployment.version) on <a href="\(path)">\(HTML.escape(endpoint.name))</a>\
            \(endpoint.traffic.count > 1 ? " <span class=\"muted\">(" + HTML.escape(split) + ")</span>" : "")</h3>
            <dl class="facts">\(facts)</dl>
            <p><code id="\(copy)">\(HTML.escape(endpoint.url))</code> <button type="button" class="secondary" data-copy="#\(copy)">Copy URL</button></p>
            <p><strong>Today</strong> (UTC): \(today)</p>
            <p class="links"><a href="\(path)?tab=monitoring">Monitoring</a> <a href="\(path)?tab=api">API docs</a> <a href="\(path)?tab=tests">Tests</a></p>
            </section>
            """
    }

    /// The blessed versions the main endpoint does not serve, newest first, each compared with what it serves.
    static func available(_ dashboard: DeploymentDashboard, canEdit: Bool) -> String {
        let serving = Set(dashboard.main?.endpoint.traffic.map(\.version) ?? [])
        let candidates = dashboard.versions.filter { $0.blessed && !serving.contains($0.version) }.sorted { $0.version > $1.version }.prefix(5)
        var html = "<h2>Available for deployment</h2>"
        guard !candidates.isEmpty else { return html + #"<p class="muted">No blessed version that is not serving.</p>"# }
        let current = dashboard.current
        for version in candidates {
            let recall = version.metrics["recall_at_100"]
            var verdict = ""
            var change = ""
            if let recall, let before = current?.metrics["recall_at_100"] {
                let delta = (recall - before) * 100
                verdict = delta > 0 ? #" <span class="badge better">★ better</span>"# : delta < 0 ? #" <span class="badge worse">worse</span>"# : ""
                change = String(format: " (%@%.1f %%)", delta >= 0 ? "+" : "−", abs(delta))
            }
            html += """
                <section class="card candidate"><h3>v\(version.version) · run #\(version.runNumber)\(verdict)</h3>
                <p>Recall@100 \(percent(recall))\(change) · registered \(day(version.registeredAt))</p>
                \(canEdit ? #"<button type="button" data-open="deploy-v\#(version.version)">Deploy v\#(version.version)</button>"# + deployDialog(version, dashboard: dashboard) : "")
                </section>
                """
        }
        return html
    }

    /// The confirmation: what is deployed, metric by metric against the current version, immediate or gradual, where.
    static func deployDialog(_ version: ModelVersions.Version, dashboard: DeploymentDashboard) -> String {
        let current = dashboard.current
        let names = comparedMetrics([version] + (current.map { [$0] } ?? []))
        let rows = names.map { name in
            let new = version.metrics[name]
            let old = current?.metrics[name]
            var change = "—"
            if let new, let old, new.isFinite, old.isFinite, new != old {
                let better = (new > old) != lowerIsBetter(name)
                change =
                    #"<span class="delta \#(better ? "better" : "worse")">\#(new > old ? "↑ +" : "↓ −")\#(String(format: "%.4f", abs(new - old)))</span>"#
            }
            func value(_ number: Double?) -> String { number.map { String(format: "%.4f", $0) } ?? "—" }
            return "<tr><td>\(HTML.escape(metricLabel(name)))</td><td>\(value(old))</td><td>\(value(new))</td><td>\(change)</td></tr>"
        }.joined()
        let endpoint = dashboard.main?.endpoint.name ?? ""
        let keep =
            current.map { "The current version (v\($0.version)) stays warm for an instant rollback." }
            ?? "Nothing serves yet: a new endpoint is made when the name is new."
        return """
            <dialog id="deploy-v\(version.version)" aria-labelledby="deploy-v\(version.version)-title">
            <form data-api="/api/models/\(pathSegment(dashboard.model.modelName))/deployments">
            <h2 id="deploy-v\(version.version)-title">Deploy v\(version.version)</h2>
            <p>Run <a href="/training/\(pathSegment(version.sourceRunId))">#\(version.runNumber)</a>\
            \(version.lineage.datasetId.map { " · dataset " + HTML.escape($0) } ?? "")\(version.lineage.modelConfigId.map { " · model config " + HTML.escape($0) } ?? "")</p>
            <table><thead><tr><th scope="col">Metric</th><th scope="col">Current\(current.map { " (v\($0.version))" } ?? "")</th>
            <th scope="col">New (v\(version.version))</th><th scope="col">Change</th></tr></thead><tbody>\(rows)</tbody></table>
            <input type="number" name="version" value="\(version.version)" hidden>
            <fieldset><legend>How</legend>
            <label class="check"><input type="radio" name="strategy" value="immediate" checked> Immediate: all traffic at once</label>
            <label class="check"><input type="radio" name="strategy" value="gradual"\(current == nil ? " disabled" : "")> Gradual: 10 % → 50 % → 100 %, \
            each step gated on its errors and latency\(current == nil ? " (once a version serves)" : "")</label>
            </fieldset>
            <fieldset data-when="strategy=gradual" disabled><legend>Each step</legend>
            <label>Seconds it lasts at least <input type="number" name="step_seconds" min="0" max="86400" placeholder="60"></label>
            <label>Requests it needs before its gates judge (0: judge without traffic) \
            <input type="number" name="min_requests" min="0" placeholder="20"></label>
            </fieldset>
            <label>Endpoint <input name="endpoint" value="\(HTML.escape(endpoint))" placeholder="a new one named after the model"></label>
            <p class="muted">\(keep)</p>
            <p class="error form-error" role="alert" hidden></p>
            <div class="actions"><button type="button" class="secondary" data-close>Cancel</button><button type="submit">Deploy now</button></div>
            </form>
            </dialog>
            """
    }

    /// Every version, newest first: when it was first deployed, whether it serves, and a rollback to it when the main
    /// endpoint can serve it again.
    static func versionHistory(_ dashboard: DeploymentDashboard, canEdit: Bool) -> String {
        guard !dashboard.versions.isEmpty else { return "" }
        let deployments = dashboard.live.flatMap(\.endpoint.deployments)
        let serving = Set(dashboard.live.flatMap { $0.endpoint.traffic.map(\.version) })
        let main = dashboard.main?.endpoint
        let rows = dashboard.versions.sorted { $0.version > $1.version }.map { version in
            let first = deployments.filter { $0.version == version.version }.map(\.createdAt).min()
            let status =
                serving.contains(version.version)
                ? #"<span class="badge deployed">current</span>"# : version.blessed ? "available" : #"<span class="muted">not blessed</span>"#
            var action = ""
            if canEdit, let main, !serving.contains(version.version),
                let back = main.deployments.filter({ $0.version == version.version && $0.rollbackAvailable }).max(by: { $0.number < $1.number })
            {
                action = """
                    <form data-api="/api/endpoints/\(pathSegment(main.name))/rollback" data-confirm="Roll \(HTML.escape(main.name)) back to v\(version.version)?">
                    <input type="hidden" name="to_deployment" value="\(HTML.escape(back.id))">
                    <button type="submit" class="secondary">Roll back to v\(version.version)\(back.rollbackInstant ? " (instant)" : "")</button></form>
                    """
            }
            return """
                <tr><td>v\(version.version)</td><td><a href="/training/\(pathSegment(version.sourceRunId))">#\(version.runNumber)</a></td>
                <td>\(percent(version.metrics["recall_at_100"]))</td><td>\(first.map(day) ?? #"<span class="muted">never</span>"#)</td>
                <td>\(status)</td><td>\(action)</td></tr>
                """
        }.joined()
        return """
            <h2>Version history</h2>
            <div class="table"><table>
            <thead><tr><th scope="col">Version</th><th scope="col">Run</th><th scope="col">Recall@100</th><th scope="col">First deployed</th>
            <th scope="col">Status</th><th scope="col"><span class="muted">Actions</span></th></tr></thead><tbody>\(rows)</tbody></table></div>
            """
    }

    /// Every endpoint of the model with its traffic, and for an editor each serving one's undeploy.
    static func endpointsTable(_ endpoints: [ModelEndpoints.Endpoint], canEdit: Bool) -> String {
        guard !endpoints.isEmpty else { return #"<p class="muted">No endpoints yet.</p>"# }
        var rows = ""
        for endpoint in endpoints.sorted(by: { $0.name < $1.name }) {
            let split = endpoint.traffic.sorted { $0.percent > $1.percent }.map { "v\($0.version) \($0.percent)%" }.joined(separator: " · ")
            let undeploy =
                !canEdit || endpoint.status == "not_serving"
                ? ""
                : """
                <form data-api="/api/endpoints/\(pathSegment(endpoint.name))/undeploy" data-confirm="Undeploy \(HTML.escape(endpoint.name))?">
                <input type="hidden" name="reason" value="undeployed from the model page"><button type="submit" class="secondary">Undeploy</button></form>
                """
            rows += """
                <tr><td><a href="/endpoints/\(pathSegment(endpoint.name))"><strong>\(HTML.escape(endpoint.name))</strong></a></td><td>\(badge(endpoint.status))</td>
                <td>\(split.isEmpty ? #"<span class="muted">no traffic</span>"# : HTML.escape(split))</td>
                <td><code>\(HTML.escape(endpoint.url))</code></td><td>\(undeploy)</td></tr>
                """
        }
        return """
            <div class="table endpoints"><table>
            <thead><tr><th scope="col">Endpoint</th><th scope="col">Status</th><th scope="col">Traffic</th><th scope="col">URL</th>
            <th scope="col"><span class="muted">Actions</span></th></tr></thead><tbody>\(rows)</tbody></table></div>
            """
    }
}

/// What the dashboard reads of `GET /api/deployments/{id}/metrics` (metrics-svc): today's line.
struct DeploymentToday: Decodable {
    struct Today: Decodable {
        var predictions: Int64
        var avgLatencyMs: Double?
        var errors: Int64
    }

    var today: Today
}
