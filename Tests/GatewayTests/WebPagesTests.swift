import Foundation
import HTTPTypes
import RegistryCore
import SlipwayTestSupport
import Testing

@testable import GatewayCore

/// The web UI's pages on a gateway: a page needs a browser session, the login sends the browser only within the site,
/// and what the services answer is written as text, never as markup.
@Suite("Gateway: web pages", .serialized, .timeLimit(.minutes(2)))
struct WebPagesTests {
    @Test("pages send a browser without a session to the login, which returns it only to a page of this site")
    func loginFirst() async throws {
        try await GatewayAuthTests.withGateway(upstreamPort: nil) { gateway, admin, _ in
            let api = gateway.api
            let root = try await api.send(.get, "/")
            #expect(root.status == .seeOther && root.headers[.location] == "/models")
            let models = try await api.send(.get, "/models?status=idle")
            #expect(models.status == .seeOther && models.headers[.location] == "/login?next=%2Fmodels%3Fstatus%3Didle")
            // An API token is not a browser session.
            #expect(try await api.send(.get, "/models", headers: GatewayAuthTests.bearer(admin)).status == .seeOther)
            let login = try await api.send(.get, "/login?next=%2Fmodels", expect: .ok)
            #expect(login.headers[.contentType]?.hasPrefix("text/html") == true)
            #expect(login.headers[.contentSecurityPolicy]?.contains("frame-ancestors 'none'") == true)
            #expect(login.text.contains(#"autocomplete="current-password""#) && login.text.contains(#"data-next="/models""#))
            for hostile in ["//evil.example", "https://evil.example/", "/\\evil.example", "models"] {
                #expect(WebPages.safeNext(hostile) == "/models", "\(hostile)")
            }
            #expect(WebPages.safeNext("/models?page=2") == "/models?page=2")

            // Logged in, the page names the user and carries the session's CSRF token; a registry that does not answer
            // is said so on the page (this gateway has no registry).
            try await api.put(
                "/api/users/admin/password", #"{"password": "admin password here"}"#, headers: GatewayAuthTests.bearer(admin), expect: .noContent)
            let session = try await api.post("/api/session", #"{"username": "admin", "password": "admin password here"}"#, expect: .created)
            let cookie = try SessionTests.cookie(of: session)
            let csrf = try #require(try session.json()["csrf_token"] as? String)
            #expect(try await api.send(.get, "/login", headers: [.cookie: cookie]).headers[.location] == "/models")
            let page = try await api.send(.get, "/models", headers: [.cookie: cookie])
            #expect(page.status == .serviceUnavailable)
            #expect(page.text.contains("admin · admin") && page.text.contains(#"content="\#(csrf)""#))
            #expect(page.text.contains("registry-svc is not answering"))
        }
    }

    @Test("the models table writes names and descriptions as text; filters keep their values; pages link with them")
    func escaping() throws {
        let model = ModelList.Model(
            modelName: "<script>alert(1)</script>", modelType: "retrieval", description: #"a "quoted" & <b>bold</b> one"#, status: "idle",
            totalVersions: 2, latestVersion: .init(version: 2, metrics: ["recall_at_100": 0.4321]), hasSchedule: false, scheduleStatus: nil,
            deployedVersion: nil, updatedAt: Date(timeIntervalSince1970: 1_800_000_000))
        let table = WebPages.table([model])
        #expect(!table.contains("<script>") && table.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
        #expect(table.contains("a &quot;quoted&quot; &amp; &lt;b&gt;bold&lt;/b&gt; one"))
        #expect(table.contains("v2 · Recall@100 0.432") && table.contains(#"<span class="badge idle">idle</span>"#))

        let filters = ModelFilters(modelType: "ranking", status: "", search: #""><img src=x>"#, hasSchedule: "true")
        #expect(filters.form.contains(#"<option value="ranking" selected>"#))
        #expect(!filters.form.contains("<img") && filters.form.contains("&quot;&gt;&lt;img src=x&gt;"))
        #expect(filters.apiQuery == "?model_type=ranking&search=%22%3E%3Cimg%20src%3Dx%3E&has_schedule=true")
        #expect(filters.pager(page: 2, pages: 3).contains("page=3") && filters.pager(page: 2, pages: 3).contains("model_type=ranking"))
    }

    /// A browser session for `username` — made by the admin with `role` first, unless `role` is nil (the user
    /// exists) — given a password by the admin: its cookie.
    static func browserSession(_ api: APITestClient, admin: String, username: String, role: String? = nil) async throws -> String {
        if let role {
            try await api.post(
                "/api/users", #"{"username": "\#(username)", "role": "\#(role)"}"#, headers: GatewayAuthTests.bearer(admin), expect: .created)
        }
        try await api.put(
            "/api/users/\(username)/password", #"{"password": "a password for \#(username)"}"#, headers: GatewayAuthTests.bearer(admin),
            expect: .noContent)
        let login = try await api.post(
            "/api/session", #"{"username": "\#(username)", "password": "a password for \#(username)"}"#, expect: .created)
        return try SessionTests.cookie(of: login)
    }

    @Test("a model's page from a real registry: its tabs, text escaped; an unknown model is a 404 page, an unknown tab a 400 naming it")
    func modelPage() async throws {
        try await withTestService(RegistryService.definition, live: true) { registry in
            try await registry.api.post(
                "/api/registered-models", #"{"name": "recs", "model_type": "retrieval", "description": "<b>two</b> towers"}"#, expect: .created)
            let peers = ["registry": "http://127.0.0.1:\(try #require(registry.port))"]
            try await GatewayAuthTests.withGateway(upstreamPort: nil, peers: peers) { gateway, admin, _ in
                let api = gateway.api
                let cookie: HTTPFields = [.cookie: try await Self.browserSession(api, admin: admin, username: "vic", role: "viewer")]
                #expect(try await api.send(.get, "/models/recs").headers[.location] == "/login?next=%2Fmodels%2Frecs")
                let overview = try await api.send(.get, "/models/recs", headers: cookie)
                #expect(overview.status == .ok, "\(overview.text)")
                #expect(overview.text.contains("&lt;b&gt;two&lt;/b&gt; towers") && !overview.text.contains("<b>two</b>"))
                #expect(overview.text.contains(#"aria-current="page">Overview</a>"#))
                #expect(overview.text.contains("No retraining schedule"))
                let versions = try await api.send(.get, "/models/recs?tab=versions", headers: cookie)
                #expect(versions.status == .ok && versions.text.contains("No versions yet"))
                // This gateway has no deploy-svc: the tab says so, with the status of what happened.
                let deployment = try await api.send(.get, "/models/recs?tab=deployment", headers: cookie)
                #expect(deployment.status == .serviceUnavailable && deployment.text.contains("deploy-svc is not answering"))

                let unknown = try await api.send(.get, "/models/no-such-model", headers: cookie)
                #expect(unknown.status == .notFound && unknown.text.contains("no-such-model"), "\(unknown.text)")
                let wizard = try await api.send(.get, "/training/new", headers: cookie)
                #expect(wizard.status == .forbidden && wizard.text.contains("needs the editor role"), "a viewer starts no run")
                let scheduleFilter = try await api.send(.get, "/schedules?status=sleeping", headers: cookie)
                #expect(scheduleFilter.status == .badRequest && scheduleFilter.text.contains("status must be active, paused"))
                let schedulesPage = try await api.send(.get, "/schedules?page=0", headers: cookie)
                #expect(schedulesPage.status == .badRequest && schedulesPage.text.contains("page must be a whole number"))
                let schedules = try await api.send(.get, "/schedules", headers: cookie)
                #expect(schedules.status == .serviceUnavailable && schedules.text.contains("schedule-svc is not answering"))
                let timelineFilter = try await api.send(.get, "/models/recs?tab=timeline&context=nope", headers: cookie)
                #expect(timelineFilter.status == .badRequest && timelineFilter.text.contains("context must be one of training"))
                let timeline = try await api.send(.get, "/models/recs?tab=timeline", headers: cookie)
                #expect(timeline.status == .serviceUnavailable && timeline.text.contains("deploy-svc is not answering"))
                let badTab = try await api.send(.get, "/models/recs?tab=%3Cscript%3E", headers: cookie)
                #expect(badTab.status == .badRequest && badTab.text.contains("tab must be one of overview, versions"))
                #expect(!badTab.text.contains("'<script>'") && badTab.text.contains("not &#39;&lt;script&gt;&#39;"))
                // The models table links each model's page; a page number that is none is said so.
                let list = try await api.send(.get, "/models", headers: cookie)
                #expect(list.status == .ok && list.text.contains(#"<a href="/models/recs">"#))
                for bad in ["abc", "0", "-1", "20001"] {
                    let page = try await api.send(.get, "/models?page=\(bad)", headers: cookie)
                    #expect(page.status == .badRequest && page.text.contains("page must be a whole number from 1 to 20000"), "\(bad)")
                }
                #expect(try await api.send(.get, "/models?page=3", headers: cookie).text.contains("past the last one"))

                // An endpoint's page: a tab that is none is a 400 before anything is read; this gateway has no deploy-svc.
                let endpointTab = try await api.send(.get, "/endpoints/shop?tab=metrics", headers: cookie)
                #expect(endpointTab.status == .badRequest && endpointTab.text.contains("tab must be one of overview, monitoring, tests, keys, api"))
                let window = try await api.send(.get, "/endpoints/shop?tab=monitoring&hours=720", headers: cookie)
                #expect(window.status == .badRequest && window.text.contains("hours must be one of 1, 6, 24, 168"))
                let testsPage = try await api.send(.get, "/endpoints/shop?tab=tests&page=0", headers: cookie)
                #expect(testsPage.status == .badRequest && testsPage.text.contains("page must be a whole number from 1 to 50000"))
                let endpoint = try await api.send(.get, "/endpoints/shop", headers: cookie)
                #expect(endpoint.status == .serviceUnavailable && endpoint.text.contains("deploy-svc is not answering"))
                #expect(try await api.send(.get, "/endpoints/shop").headers[.location] == "/login?next=%2Fendpoints%2Fshop")
            }
            // The timeline from a real registry's events. Its "deploy-svc" (and "schedule-svc") here is the registry
            // too, which knows no such route: a 404, as from a deploy-svc that has not heard of the model yet, is no
            // endpoints rather than a failed page.
            let both = ["registry": peers["registry"]!, "deploy": peers["registry"]!, "schedule": peers["registry"]!]
            try await GatewayAuthTests.withGateway(upstreamPort: nil, peers: both) { gateway, admin, _ in
                let cookie: HTTPFields = [.cookie: try await Self.browserSession(gateway.api, admin: admin, username: "vic", role: "viewer")]
                let timeline = try await gateway.api.send(.get, "/models/recs?tab=timeline&context=registry", headers: cookie)
                #expect(timeline.status == .ok && timeline.text.contains("Registered model created"), "\(timeline.text)")
                #expect(timeline.text.contains(#"<span class="badge context">Registry</span>"#))
                // A schedule its service does not know is that service's 404, said on the page.
                let schedule = try await gateway.api.send(.get, "/schedules/no-such-schedule", headers: cookie)
                #expect(schedule.status == .notFound && schedule.text.contains("schedule-svc refused"), "\(schedule.text)")
            }
        }
    }

    static func version(_ number: Int, _ metrics: [String: Double], aliases: [String] = []) -> ModelVersions.Version {
        ModelVersions.Version(
            version: number, versionLabel: "v\(number)", sourceRunId: "run-\(number)", runNumber: number, artifactUri: "file:///bundles/\(number)",
            metrics: metrics, blessed: true, aliases: aliases, registeredAt: Date(timeIntervalSince1970: 1_800_000_000 + Double(number) * 3600),
            lineage: .init(
                datasetId: "ds-1", featureConfigId: nil, modelConfigId: "mc-<1>", scheduleId: nil, parentVersionId: nil,
                artifacts: ["vocabulary": "file:///v<\(number)>"]))
    }

    @Test("versions compare each metric with the version before; artifacts and lineage escape what the registry says")
    func modelTabs() {
        let versions = [
            Self.version(1, ["recall_at_100": 0.30, "loss": 2.0]),
            Self.version(2, ["recall_at_100": 0.35, "loss": 2.5, "recall_at_10": .nan], aliases: ["<prod>"]),
        ]
        let table = WebPages.versionsTable(versions, deployed: 2)
        #expect(table.contains("<th scope=\"col\">Recall@100</th><th scope=\"col\">Recall@10</th><th scope=\"col\">loss</th>"))
        // Recall went up (better), loss went up too (worse).
        #expect(table.contains(#"<span class="delta better">+0.0500</span>"#) && table.contains(#"<span class="delta worse">+0.5000</span>"#))
        #expect(table.contains(#"<span class="badge deployed">deployed</span>"#) && table.contains("&lt;prod&gt;") && !table.contains("<prod>"))
        #expect(table.range(of: "<strong>v2</strong>")!.lowerBound < table.range(of: "<strong>v1</strong>")!.lowerBound, "newest first")
        #expect(table.contains(#"<a href="/training/run-1">run 1</a>"#))
        #expect(WebPages.artifacts(versions).contains("file:///v&lt;2&gt;"))
        let lineage = WebPages.lineage(versions)
        #expect(lineage.contains("mc-&lt;1&gt;") && !lineage.contains("Features"), "an absent link is left out")

    }

    @Test("the schedule grid: a cell per day for twelve weeks ending this week, each day's slots told apart, the next fire times")
    func scheduleGrid() throws {
        let now = try Date("2026-12-06T12:00:00Z", strategy: .iso8601)  // a Sunday
        func slot(_ text: String, _ outcome: String) throws -> ScheduleActivity.Slot {
            ScheduleActivity.Slot(slotTime: try Date(text, strategy: .iso8601), outcome: outcome)
        }
        let schedule = ScheduleActivity(
            id: "sched-1", name: "nightly <retrain>", status: "active", scheduleType: "daily", scheduleTime: "02:00",
            scheduleTimezone: "Europe/Berlin",
            totalRuns: 3, successfulRuns: 2, failedRuns: 1, notBlessedRuns: 0, cancelledRuns: 0,
            upcoming: [.init(at: try Date("2026-12-07T01:00:00Z", strategy: .iso8601), local: "2026-12-07T02:00:00+01:00")],
            ledger: [
                try slot("2026-12-05T01:00:00Z", "started"), try slot("2026-12-04T01:00:00Z", "skipped_overlap"),
                try slot("2026-12-03T01:00:00Z", "started"), try slot("2026-12-03T13:00:00Z", "skipped_paused"),
                try slot("2025-01-01T01:00:00Z", "started"),  // long before the grid: not drawn
            ])
        let grid = WebPages.scheduleGrid(schedule, now: now)
        #expect(grid.components(separatedBy: #"<span class="day "#).count - 1 == 12 * 7 + 4, "84 days and the legend's four")
        #expect(grid.contains(#"class="day started" title="2026-12-05: started""#))
        #expect(grid.contains(#"class="day skipped" title="2026-12-04: skipped overlap""#))
        #expect(grid.contains(#"class="day mixed" title="2026-12-03: started, skipped paused""#))
        #expect(grid.contains(#"title="2026-12-06: no slot""#) && !grid.contains("2026-12-07:"), "the grid ends on today's week, Sunday")
        #expect(grid.contains(#"title="2026-09-14: no slot""#), "and starts on the Monday eleven weeks before")
        #expect(grid.contains("nightly &lt;retrain&gt;") && grid.contains("2026-12-07T02:00:00+01:00"))
        #expect(grid.contains("2 of 3 ended ones succeeded"))
        #expect(!grid.contains("data-api="), "a viewer gets no buttons")
        let editor = WebPages.scheduleGrid(schedule, now: now, canEdit: true)
        #expect(editor.contains(#"data-api="/api/training/schedules/sched-1/pause""#) && editor.contains("/sched-1/trigger"))
        #expect(!editor.contains("/resume"), "an active schedule is paused, not resumed")

        // No schedule: an editor makes one from the latest version's run; a viewer is told there is none.
        let model = ModelDetail(
            modelName: "recs", modelType: "retrieval", description: "", tags: [:], status: "idle", isRegistered: true, totalVersions: 1,
            latestVersion: Self.version(1, [:]), aliases: [:], scheduleId: nil, scheduleStatus: nil, deployedVersion: nil,
            createdAt: Date(), updatedAt: Date())
        let form = WebPages.newSchedule(model, canEdit: true)
        #expect(form.contains(#"data-api="/api/training/schedules/from-run""#) && form.contains(#"name="source_training_run_id" value="run-1""#))
        #expect(!WebPages.newSchedule(model, canEdit: false).contains("<form"))
    }

    static func deployment(
        _ number: Int, version: Int, status: String, traffic: Int, steps: [Int] = [100], stepIndex: Int = 0, rollback: Bool = false
    ) -> EndpointDetail.Deployment {
        EndpointDetail.Deployment(
            id: "d-\(number)", number: number, version: version, strategy: steps.count > 1 ? "gradual" : "immediate",
            steps: steps.map { .init(trafficPercent: $0) }, status: status, trafficPercent: traffic, stepIndex: stepIndex, heldStep: nil,
            requestedBy: "<alice>", reason: "", error: "", createdAt: Date(timeIntervalSince1970: 1_800_000_000 + Double(number)),
            revision: .init(status: traffic > 0 ? "ready" : "stopped", instances: traffic > 0 ? ["http://127.0.0.1:1"] : []),
            rollbackAvailable: rollback, rollbackInstant: rollback)
    }

    @Test("an endpoint's instances: each running revision's count (scaled to zero said so), and the latest changes with why")
    func scalingSection() {
        var cold = Self.deployment(2, version: 2, status: "active", traffic: 100)
        cold.revision?.instances = []
        var busy = Self.deployment(3, version: 3, status: "rolling_out", traffic: 0)
        busy.revision = .init(status: "ready", instances: ["http://a:1", "http://a:2"])
        let endpoint = EndpointDetail(
            name: "shop", id: "ep-1", modelName: "recs", preset: "development", url: "", status: "serving", traffic: [],
            deployments: [Self.deployment(1, version: 1, status: "inactive", traffic: 0), cold, busy])
        let changes = [
            ScalingHistory.Change(
                revisionId: "d-2-r1", instances: 0, previousInstances: 1, cause: "idle", reason: "no request for <900> s", startupMs: 0,
                at: Date(timeIntervalSince1970: 1_800_000_000)),
            ScalingHistory.Change(
                revisionId: "d-2-r1", instances: 1, previousInstances: 0, cause: "wake", reason: "a request arrived", startupMs: 412,
                at: Date(timeIntervalSince1970: 1_800_000_060)),
        ]
        let html = WebPages.scaling(endpoint, changes)
        #expect(html.contains("v2 (#2, 100% of the traffic): scaled to zero: the first request wakes it"), "\(html)")
        #expect(html.contains("v3 (#3, 0% of the traffic): 2 instances") && !html.contains("v1 (#1"))
        #expect(html.contains("<td>1 → 0</td>") && html.contains(#"<span class="badge wake">wake</span>"#) && html.contains("<td>412 ms</td>"))
        #expect(html.contains("no request for &lt;900&gt; s"))
        #expect(WebPages.scaling(endpoint, []).contains("No scaling yet."))
    }

    @Test("an endpoint's page: a rollout's steps, the split, rollbacks and key forms for editors only, the API view escapes what it shows")
    func endpointPage() {
        let endpoint = EndpointDetail(
            name: "shop", id: "ep-1", modelName: "recs", preset: "production", url: "http://127.0.0.1:8081/shop", status: "deploying",
            traffic: [.init(version: 1, percent: 90), .init(version: 2, percent: 10)],
            deployments: [
                Self.deployment(1, version: 1, status: "inactive", traffic: 0, rollback: true),
                Self.deployment(2, version: 1, status: "active", traffic: 90),
                Self.deployment(3, version: 2, status: "rolling_out", traffic: 10, steps: [10, 50, 100], stepIndex: 0),
            ])
        let rollout = WebPages.rollout(endpoint)
        #expect(rollout.contains("Deploying v2") && rollout.contains(#"<li class="step current">10%</li><li class="step next">50%</li>"#))
        #expect(rollout.contains("asked by &lt;alice&gt;"))
        #expect(
            WebPages.rollout(
                EndpointDetail(name: "shop", id: "ep-1", modelName: "recs", preset: "", url: "", status: "serving", traffic: [], deployments: [])
            )
            .isEmpty)

        let editor = WebPages.traffic(endpoint, canEdit: true) + WebPages.history(endpoint, canEdit: true)
        #expect(editor.contains("v1 · 90%") && editor.contains(#"name="traffic.d-2""#) && editor.contains(#"name="traffic.d-3""#))
        #expect(!editor.contains(#"name="traffic.d-1""#), "a deployment whose revision stopped gets no share")
        #expect(editor.contains(#"<input type="hidden" name="to_deployment" value="d-1">"#) && editor.contains("Roll back to v1 (instant)"))
        #expect(editor.components(separatedBy: #"class="secondary">Roll back to"#).count == 2, "only the deployment that can serve again")
        #expect(editor.range(of: "<td>#3</td>")!.lowerBound < editor.range(of: "<td>#1</td>")!.lowerBound, "newest first")
        let viewer = WebPages.traffic(endpoint, canEdit: false) + WebPages.history(endpoint, canEdit: false)
        #expect(!viewer.contains("data-api=") && viewer.contains("v1 · 90%"))

        let key = ApiKeyList.Key(
            id: "key-1", name: "<mobile>", keyPrefix: "sk_ab", isActive: true, purpose: "client", createdBy: "alice", expiresAt: nil, lastUsedAt: nil)
        let keys = WebPages.keys([key], model: "recs", canEdit: true)
        #expect(keys.contains("&lt;mobile&gt;") && keys.contains(#"data-api="/api/api-keys/key-1" data-method="DELETE""#))
        #expect(keys.contains(#"data-api="/api/models/recs/api-keys" data-show="key""#) && keys.contains(#"id="action-result""#))
        #expect(!WebPages.keys([key], model: "recs", canEdit: false).contains("data-api="))

        let hostile = EndpointDetail(
            name: #"a"b"#, id: "ep-2", modelName: "recs", preset: "", url: #"http://x/"><script>"#, status: "serving", traffic: [], deployments: [])
        let view = WebPages.apiView(hostile, canEdit: false)
        #expect(!view.contains(#""><script>"#) && view.contains("http://x/&quot;&gt;&lt;script&gt;/recommend"))
        #expect(view.contains(#"data-endpoint="a&quot;b""#) && view.contains(#"disabled title="editors run the playground""#))
    }
}
