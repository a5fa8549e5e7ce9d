import Foundation
import HTTPTypes
import Hummingbird
import SlipwayPlatform

/// An endpoint's page (`/endpoints/{name}`): its rollout and traffic with rollback (live), its model's API keys, and
/// the API documentation view — base URL, routes, examples from the served version's training data, curl and Python
/// snippets, and a playground that asks the endpoint with the viewer's rights.
extension WebPages {
    enum EndpointTab: String, CaseIterable {
        case overview, monitoring, tests, keys, api

        var title: String {
            switch self {
            case .overview: "Rollout and traffic"
            case .monitoring: "Monitoring"
            case .tests: "Tests"
            case .keys: "API keys"
            case .api: "API"
            }
        }
    }

    @Sendable func endpoint(_ request: Request, context: SlipwayRequestContext) async throws -> Response {
        guard let user = try await user(request) else { return Self.loginRedirect(request) }
        let name = try context.parameters.require("name")
        let tabText = request.uri.queryParameters.get("tab") ?? EndpointTab.overview.rawValue
        // The overview follows deploy-svc's events (a rollout's steps), monitoring metrics-svc's (alerts firing); the
        // other tabs hold what the user typed or was shown once (a new key), which a refresh must not take away.
        func page(_ main: String, status: HTTPResponse.Status = .ok, live: [String] = []) -> Response {
            HTML.page(HTML.layout(title: name, user: user, current: "models", live: live, main: main), status: status)
        }
        guard let tab = EndpointTab(rawValue: tabText) else {
            let names = EndpointTab.allCases.map(\.rawValue).joined(separator: ", ")
            return page(PageProblem(message: "tab must be one of \(names), not '\(tabText)'", status: .badRequest).html, status: .badRequest)
        }
        // A tab's own query is checked before anything is read.
        let query = request.uri.queryParameters
        var hours = 24
        var tests = TestsSelection()
        switch tab {
        case .monitoring:
            switch Self.monitoringHours(query.get("hours")) {
            case .success(let chosen): hours = chosen
            case .failure(let problem): return page(problem.html, status: problem.status)
            }
        case .tests:
            switch Self.pageNumber(query.get("page"), last: 1_000_000 / Self.testsPageSize) {
            case .success(let number): tests = TestsSelection(test: query.get("test"), loadTest: query.get("load_test"), page: number)
            case .failure(let problem): return page(problem.html, status: problem.status)
            }
        default: break
        }
        let endpoint: EndpointDetail
        switch try await read(EndpointDetail.self, from: "deploy", "/api/endpoints/" + Self.pathSegment(name), for: user) {
        case .success(let answer): endpoint = answer
        case .failure(let problem): return page(#"<h1>\#(HTML.escape(name))</h1>"# + problem.html, status: problem.status)
        }
        let canEdit = user.role != "viewer"
        var main = """
            <p class="crumbs"><a href="/models">Models</a> / <a href="/models/\(Self.pathSegment(endpoint.modelName))?tab=deployment">\
            \(HTML.escape(endpoint.modelName))</a> /</p>
            <h1>\(HTML.escape(endpoint.name)) \(Self.badge(endpoint.status))</h1>
            <p class="muted">\(HTML.escape(endpoint.preset)) · <code>\(HTML.escape(endpoint.url))</code></p>
            \(Self.tabNav(path: "/endpoints/" + Self.pathSegment(endpoint.name), EndpointTab.allCases.map { ($0.rawValue, $0.title) }, current: tab.rawValue, label: "Endpoint sections"))
            """
        switch tab {
        case .overview:
            main += Self.rollout(endpoint) + Self.traffic(endpoint, canEdit: canEdit)
            switch try await read(
                ScalingHistory.self, from: "deploy", "/api/endpoints/\(Self.pathSegment(endpoint.name))/scaling?limit=10", for: user)
            {
            case .success(let history): main += Self.scaling(endpoint, history.changes)
            case .failure(let problem): main += "<h2>Instances</h2>" + problem.html
            }
            return page(main + Self.history(endpoint, canEdit: canEdit), live: ["deploy"])
        case .monitoring:
            let (section, status) = try await monitoring(endpoint, hours: hours, user: user)
            return page(main + section, status: status, live: ["metrics"])
        case .tests:
            let (section, status) = try await endpointTests(endpoint, selection: tests, user: user)
            return page(main + section, status: status, live: ["testing"])
        case .keys:
            switch try await read(ApiKeyList.self, from: "deploy", "/api/models/\(Self.pathSegment(endpoint.modelName))/api-keys", for: user) {
            case .success(let keys): return page(main + Self.keys(keys.apiKeys, model: endpoint.modelName, canEdit: canEdit))
            case .failure(let problem): return page(main + problem.html, status: problem.status)
            }
        case .api:
            return page(main + Self.apiView(endpoint, canEdit: canEdit))
        }
    }

    // MARK: Rollout and traffic

    static let inProgress: Set<String> = ["requested", "deploying", "rolling_out"]

    /// The deployment in progress, if any: its steps (done, current, to come) and the traffic it has now.
    static func rollout(_ endpoint: EndpointDetail) -> String {
        guard let deployment = endpoint.deployments.first(where: { inProgress.contains($0.status) }) else { return "" }
        var steps = ""
        for (index, step) in deployment.steps.enumerated() {
            let state = index < deployment.stepIndex ? "done" : index == deployment.stepIndex ? "current" : "next"
            let held = deployment.heldStep == index ? " (held: its figures were inconclusive)" : ""
            steps += #"<li class="step \#(state)">\#(step.trafficPercent)%\#(held)</li>"#
        }
        return """
            <section class="card rollout" aria-label="Rollout in progress" aria-live="polite">
            <h2>Deploying v\(deployment.version) \(badge(deployment.status))</h2>
            <p>\(HTML.escape(deployment.strategy)) · \(deployment.trafficPercent)% of the traffic now · asked by \(HTML.escape(deployment.requestedBy))\
            \(deployment.reason.isEmpty ? "" : " · " + HTML.escape(deployment.reason))</p>
            \(steps.isEmpty ? "" : #"<ol class="steps">\#(steps)</ol>"#)
            \(deployment.error.isEmpty ? "" : #"<p class="error">\#(HTML.escape(deployment.error))</p>"#)
            </section>
            """
    }

    /// Who gets what share; an editor sets the shares of the deployments whose revisions run.
    static func traffic(_ endpoint: EndpointDetail, canEdit: Bool) -> String {
        var html = "<h2>Traffic</h2>"
        if endpoint.traffic.isEmpty {
            html += #"<p class="muted">No traffic: the endpoint serves nothing.</p>"#
        } else {
            html += #"<div class="split" role="img" aria-label="Traffic split">"#
            for share in endpoint.traffic.sorted(by: { $0.percent > $1.percent }) {
                html += #"<span style="flex: \#(share.percent)">v\#(share.version) · \#(share.percent)%</span>"#
            }
            html += "</div>"
        }
        let running = endpoint.deployments.filter { $0.revision?.status == "ready" || $0.trafficPercent > 0 }
        if canEdit, running.count > 1 {
            var fields = ""
            for deployment in running {
                fields += """
                    <label>v\(deployment.version) (#\(deployment.number)) <input type="number" name="traffic.\(HTML.escape(deployment.id))" \
                    min="0" max="100" value="\(deployment.trafficPercent)" required></label>
                    """
            }
            html += """
                <form class="action" data-api="/api/endpoints/\(pathSegment(endpoint.name))/traffic">
                <h3>Split the traffic (percents that add up to 100)</h3>\(fields)<button type="submit">Apply</button></form>
                """
        }
        return html + #"<p class="error" role="alert" id="action-error" hidden></p>"#
    }

    /// The instances of each running revision (model-server processes), and the latest changes to them: the autoscaler
    /// adding or removing one, an idle revision scaled to zero, a request waking it.
    static func scaling(_ endpoint: EndpointDetail, _ changes: [ScalingHistory.Change]) -> String {
        let running = endpoint.deployments.filter { $0.revision?.status == "ready" || $0.revision?.status == "failed" }
        var html = "<h2>Instances</h2>"
        if running.isEmpty {
            html += #"<p class="muted">No revision runs.</p>"#
        } else {
            html += "<ul>"
            for deployment in running.sorted(by: { $0.number > $1.number }) {
                let count = deployment.revision?.instances?.count ?? 0
                let instances =
                    count == 0 ? "scaled to zero: the first request wakes it" : count == 1 ? "1 instance" : "\(count) instances"
                html += "<li>v\(deployment.version) (#\(deployment.number), \(deployment.trafficPercent)% of the traffic): \(instances)</li>"
            }
            html += "</ul>"
        }
        guard !changes.isEmpty else { return html + #"<p class="muted">No scaling yet.</p>"# }
        var rows = ""
        for change in changes {
            let startup = change.startupMs > 0 ? "\(change.startupMs) ms" : ""
            rows += """
                <tr><td><time datetime="\(change.at.ISO8601Format())">\(day(change.at))</time></td><td>\(HTML.escape(change.revisionId))</td>
                <td>\(change.previousInstances) → \(change.instances)</td><td>\(badge(change.cause))</td><td>\(HTML.escape(change.reason))</td>
                <td>\(startup)</td></tr>
                """
        }
        return html + """
            <div class="table"><table aria-label="Scaling history">
            <thead><tr><th scope="col">When</th><th scope="col">Revision</th><th scope="col">Instances</th><th scope="col">Cause</th>
            <th scope="col">Why</th><th scope="col">Start-up</th></tr></thead>
            <tbody>\(rows)</tbody></table></div>
            """
    }

    /// The deployments, newest first; an editor rolls back to one whose version can serve again.
    static func history(_ endpoint: EndpointDetail, canEdit: Bool) -> String {
        guard !endpoint.deployments.isEmpty else { return #"<p class="muted">No deployments yet.</p>"# }
        var rows = ""
        for deployment in endpoint.deployments.sorted(by: { $0.number > $1.number }) {
            var action = ""
            if canEdit, deployment.rollbackAvailable {
                action = """
                    <form data-api="/api/endpoints/\(pathSegment(endpoint.name))/rollback" data-confirm="Roll back to v\(deployment.version)?">
                    <input type="hidden" name="to_deployment" value="\(HTML.escape(deployment.id))">
                    <button type="submit" class="secondary">Roll back to v\(deployment.version)\(deployment.rollbackInstant ? " (instant)" : "")</button></form>
                    """
            }
            rows += """
                <tr><td>#\(deployment.number)</td><td>v\(deployment.version)</td><td>\(HTML.escape(deployment.strategy))</td>
                <td>\(badge(deployment.status))</td><td>\(deployment.trafficPercent)%</td><td>\(HTML.escape(deployment.requestedBy))</td>
                <td>\(HTML.escape(deployment.reason))</td><td><time datetime="\(deployment.createdAt.ISO8601Format())">\(day(deployment.createdAt))</time></td>
                <td>\(action)</td></tr>
                """
        }
        return """
            <h2>Deployments</h2>
            <div class="table"><table>
            <thead><tr><th scope="col">#</th><th scope="col">Version</th><th scope="col">Strategy</th><th scope="col">Status</th>
            <th scope="col">Traffic</th><th scope="col">By</th><th scope="col">Reason</th><th scope="col">When</th>
            <th scope="col"><span class="muted">Actions</span></th></tr></thead>
            <tbody>\(rows)</tbody></table></div>
            """
    }

    // MARK: Keys

    static func keys(_ keys: [ApiKeyList.Key], model: String, canEdit: Bool) -> String {
        var html = ""
        if keys.isEmpty {
            html += #"<p class="muted">No API keys for \#(HTML.escape(model)) yet: a client needs one to call the endpoint.</p>"#
        } else {
            var rows = ""
            for key in keys {
                let revoke =
                    canEdit && key.isActive
                    ? """
                    <form data-api="/api/api-keys/\(pathSegment(key.id))" data-method="DELETE" data-confirm="Revoke \(HTML.escape(key.name))?">
                    <input type="hidden" name="reason" value="revoked from the endpoint page"><button type="submit" class="secondary">Revoke</button></form>
                    """ : ""
                rows += """
                    <tr><td>\(HTML.escape(key.name))</td><td><code>\(HTML.escape(key.keyPrefix))…</code></td><td>\(HTML.escape(key.purpose))</td>
                    <td>\(key.isActive ? badge("active") : badge("revoked"))</td><td>\(HTML.escape(key.createdBy))</td>
                    <td>\(key.lastUsedAt.map(day) ?? #"<span class="muted">never</span>"#)</td>
                    <td>\(key.expiresAt.map(day) ?? #"<span class="muted">never</span>"#)</td><td>\(revoke)</td></tr>
                    """
            }
            html += """
                <div class="table"><table>
                <thead><tr><th scope="col">Name</th><th scope="col">Key</th><th scope="col">Purpose</th><th scope="col">State</th>
                <th scope="col">By</th><th scope="col">Last used</th><th scope="col">Expires</th><th scope="col"><span class="muted">Actions</span></th></tr></thead>
                <tbody>\(rows)</tbody></table></div>
                """
        }
        if canEdit {
            html += """
                <form class="action" data-api="/api/models/\(pathSegment(model))/api-keys" data-show="key">
                <h2>New API key</h2>
                <label>Name <input name="name" required maxlength="100" placeholder="mobile app"></label>
                <label>Purpose <select name="purpose"><option value="client">Client</option><option value="testing">Testing (left out of serving figures)</option></select></label>
                <button type="submit">Create</button>
                </form>
                <div id="action-result" class="card" hidden><p>The key, shown this once (only its hash is kept):</p>
                <pre><code id="new-key"></code></pre><button type="button" class="secondary" data-copy="#new-key">Copy</button></div>
                """
        }
        return html + #"<p class="error" role="alert" id="action-error" hidden></p>"#
    }

    // MARK: API documentation view

    /// The endpoint's API as a client calls it: its routes, a request built from the served version's training data
    /// (fetched when the page opens: drawing it reads the data), curl and Python with copy buttons, and a playground.
    static func apiView(_ endpoint: EndpointDetail, canEdit: Bool) -> String {
        let base = endpoint.url
        let routes = [
            ("POST", "/recommend", #"{"customer_id", "top_k", "features"} → {"customer_id", "product_ids", "scores", "model_version"}"#),
            ("POST", "/recommend-batch", #"{"customers": [{"customer_id", …}], "top_k"} (up to 1,000) → {"recommendations": […]}"#),
            (
                "POST", "/v1/models/\(endpoint.modelName):predict",
                #"{"instances": [{…features}], "top_k"} → {"predictions": [{"product_ids", "scores"}]}"#
            ),
            ("GET", "/health", "the serving version's status"),
        ]
        let rows = routes.map { method, path, what in
            "<tr><td><code>\(method)</code></td><td><code>\(HTML.escape(base + path))</code></td><td>\(HTML.escape(what))</td></tr>"
        }.joined()
        return """
            <section class="api-view" data-endpoint="\(HTML.escape(endpoint.name))" data-base="\(HTML.escape(base))">
            <h2>Base URL</h2><p><code>\(HTML.escape(base))</code> — every request sends an API key: <code>Authorization: Bearer &lt;key&gt;</code> \
            (the <a href="?tab=keys">API keys</a> tab makes one). Add <code>?format=spec</code> for the specification's answer shapes. \
            Every field and answer: the <a href="/docs?api=prediction">prediction API reference</a>.</p>
            <div class="table"><table><thead><tr><th scope="col">Method</th><th scope="col">URL</th><th scope="col">Body → answer</th></tr></thead>
            <tbody>\(rows)</tbody></table></div>
            <h2>Input</h2><div id="schema" class="muted">Reading the served version's input schema…</div>
            <h2>Example</h2>
            <h3>curl</h3><pre><code id="curl-example">…</code></pre><button type="button" class="secondary" data-copy="#curl-example">Copy</button>
            <h3>Python</h3><pre><code id="python-example">…</code></pre><button type="button" class="secondary" data-copy="#python-example">Copy</button>
            <h2>Playground</h2>
            <p class="muted">Asks the endpoint's main version with your rights (no API key; not counted in its serving figures).</p>
            <form id="playground"><label>Request <textarea name="inputs" rows="6" spellcheck="false"></textarea></label>
            <button type="submit"\(canEdit ? "" : " disabled title=\"editors run the playground\"")>Run</button></form>
            <p class="error" role="alert" id="playground-error" hidden></p>
            <pre><code id="playground-answer"></code></pre>
            </section>
            <script>\(apiViewScript)</script>
            """
    }

    static let apiViewScript = """
        "use strict";
        (async () => {
          const view = document.querySelector(".api-view");
          const endpoint = view.dataset.endpoint, base = view.dataset.base;
          const schema = document.getElementById("schema");
          const answer = await fetch("/api/deployed-endpoints/" + encodeURIComponent(endpoint) + "/examples?count=2");
          const examples = await answer.json().catch(() => ({}));
          if (!answer.ok) { schema.textContent = ((examples.error || {}).message) || "No examples (" + answer.status + ")"; return; }
          schema.textContent = "";
          const list = document.createElement("ul");
          for (const feature of examples.input_schema) {
            const item = document.createElement("li");
            item.textContent = feature.name + ": " + feature.type + (feature.required ? " (required)" : "");
            list.append(item);
          }
          schema.append(list);
          const first = examples.instances[0] || {};
          const { customer_id, ...features } = first;
          const body = { customer_id, top_k: 10 };
          if (Object.keys(features).length) body.features = features;
          const json = JSON.stringify(body);
          document.getElementById("curl-example").textContent =
            "curl -X POST " + base + "/recommend \\\\\\n  -H 'Authorization: Bearer $SLIPWAY_KEY' -H 'Content-Type: application/json' \\\\\\n  -d '" + json + "'";
          document.getElementById("python-example").textContent =
            "import os, requests\\n\\nanswer = requests.post(\\"" + base + "/recommend\\",\\n    headers={\\"Authorization\\": f\\"Bearer {os.environ['SLIPWAY_KEY']}\\"},\\n    json=" + json + ")\\nanswer.raise_for_status()\\nprint(answer.json()[\\"product_ids\\"])";
          const playground = document.getElementById("playground");
          playground.inputs.value = JSON.stringify({ inputs: { ...first, top_k: 10 } }, null, 2);
          playground.addEventListener("submit", async event => {
            event.preventDefault();
            const problem = document.getElementById("playground-error");
            problem.hidden = true;
            let request;
            try { request = JSON.parse(playground.inputs.value); } catch (error) {
              problem.textContent = "The request is not JSON: " + error.message; problem.hidden = false; return;
            }
            const csrf = document.querySelector('meta[name="csrf-token"]').content;
            const reply = await fetch("/api/v1/deployment/endpoints/" + encodeURIComponent(endpoint) + "/query", { method: "POST",
              headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf }, body: JSON.stringify(request) });
            const result = await reply.json().catch(() => ({}));
            if (!reply.ok) { problem.textContent = (result.error || {}).message || "refused (" + reply.status + ")"; problem.hidden = false; return; }
            document.getElementById("playground-answer").textContent = JSON.stringify(result, null, 2);
          });
        })();
        """
}

/// What the endpoint page reads of `GET /api/endpoints/{name}` (deploy-svc).
struct EndpointDetail: Decodable {
    struct Traffic: Decodable {
        var version: Int
        var percent: Int
    }

    struct Step: Decodable {
        var trafficPercent: Int
    }

    struct Revision: Decodable {
        var status: String
        /// Every instance's address; empty while it is scaled to zero.
        var instances: [String]?
    }

    struct Deployment: Decodable {
        var id: String
        var number: Int
        var version: Int
        var strategy: String
        var steps: [Step]
        var status: String
        var trafficPercent: Int
        var stepIndex: Int
        var heldStep: Int?
        var requestedBy: String
        var reason: String
        var error: String
        var createdAt: Date
        var revision: Revision?
        var rollbackAvailable: Bool
        var rollbackInstant: Bool
    }

    var name: String
    var id: String
    var modelName: String
    var preset: String
    var url: String
    var status: String
    var traffic: [Traffic]
    var deployments: [Deployment]
}

/// `GET /api/endpoints/{name}/scaling` (deploy-svc).
struct ScalingHistory: Decodable {
    struct Change: Decodable {
        var revisionId: String
        var instances: Int
        var previousInstances: Int
        var cause: String
        var reason: String
        var startupMs: Int64
        var at: Date
    }

    var changes: [Change]
}

/// `GET /api/models/{model}/api-keys` (deploy-svc).
struct ApiKeyList: Decodable {
    struct Key: Decodable {
        var id: String
        var name: String
        var keyPrefix: String
        var isActive: Bool
        var purpose: String
        var createdBy: String
        var expiresAt: Date?
        var lastUsedAt: Date?
    }

    var apiKeys: [Key]
}
