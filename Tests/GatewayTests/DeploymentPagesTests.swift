import Foundation
import Testing

@testable import GatewayCore

/// A model's deployment dashboard, rendered from the registry's versions, deploy-svc's endpoints and metrics-svc's
/// figures (the browser check deploys from its dialogs on a real platform).
@Suite("Deployment pages")
struct DeploymentPagesTests {
    static let model = ModelDetail(
        modelName: "recs", modelType: "retrieval", description: "", tags: [:], status: "deployed", isRegistered: true, totalVersions: 3,
        latestVersion: nil, aliases: [:], scheduleId: nil, scheduleStatus: nil, deployedVersion: 2, createdAt: Date(), updatedAt: Date())

    static func dashboard(today: Int64 = 1_250) -> WebPages.DeploymentDashboard {
        let versions = [
            WebPagesTests.version(1, ["recall_at_100": 0.30, "ndcg_at_10": 0.1, "alpha": 1]),
            WebPagesTests.version(2, ["recall_at_100": 0.35, "ndcg_at_10": 0.12, "alpha": 1]),
            WebPagesTests.version(3, ["recall_at_100": 0.41, "ndcg_at_10": 0.11, "alpha": 1]),
        ]
        let endpoint = EndpointDetail(
            name: "shop", id: "shop", modelName: "recs", preset: "production", url: "http://127.0.0.1:8081/shop", status: "serving",
            traffic: [.init(version: 2, percent: 100)],
            deployments: [
                WebPagesTests.deployment(1, version: 1, status: "inactive", traffic: 0, rollback: true),
                WebPagesTests.deployment(2, version: 2, status: "active", traffic: 100),
            ])
        let today = DeploymentToday(today: .init(predictions: today, avgLatencyMs: 2.14, errors: 3))
        return WebPages.DeploymentDashboard(
            model: model, versions: versions,
            endpoints: [
                .init(name: "shop", status: "serving", url: endpoint.url, traffic: endpoint.traffic),
                .init(name: "old", status: "not_serving", url: "http://x/old", traffic: []),
            ], live: [.init(endpoint: endpoint, today: .success(today))])
    }

    @Test("current production: the serving version, its run and lineage, when and by whom, its URL to copy, today's figures")
    func production() {
        let html = WebPages.deploymentDashboard(Self.dashboard(), canEdit: false)
        #expect(html.contains(#"<span class="badge deployed">live</span> v2 on <a href="/endpoints/shop">shop</a>"#))
        #expect(html.contains(#"<a href="/training/run-2">#2</a>"#) && html.contains("<dd>35.0 %</dd>") && html.contains("by &lt;alice&gt;"))
        #expect(html.contains(##"data-copy="#url-shop""##) && html.contains("1250 predictions · average latency 2.1 ms · 3 errors"))
        #expect(html.contains(#"<a href="/endpoints/shop?tab=monitoring">Monitoring</a>"#))
        var quiet = Self.dashboard()
        quiet.live[0].today = .failure(WebPages.PageProblem(message: "metrics-svc is not answering", status: .serviceUnavailable))
        #expect(
            WebPages.deploymentDashboard(quiet, canEdit: false).contains(
                "<strong>Today</strong> (UTC): <span class=\"muted\">metrics-svc is not answering"))
        #expect(
            WebPages.deploymentDashboard(.init(model: Self.model, versions: [], endpoints: [], live: []), canEdit: true).contains(
                "Not serving anywhere."))
    }

    @Test("available versions are the blessed ones not serving, compared with the current one; an editor deploys through a dialog")
    func available() {
        let editor = WebPages.deploymentDashboard(Self.dashboard(), canEdit: true)
        #expect(editor.contains(#"v3 · run #3 <span class="badge better">★ better</span>"#) && editor.contains("Recall@100 41.0 % (+6.0 %)"))
        #expect(editor.contains(#"v1 · run #1 <span class="badge worse">worse</span>"#) && !editor.contains("v2 · run #2"))
        #expect(editor.contains(#"<button type="button" data-open="deploy-v3">Deploy v3</button>"#) && editor.contains(#"<dialog id="deploy-v3""#))
        // The dialog compares metric by metric, recalls and ranking measures before parameters.
        let dialog = String(editor[editor.range(of: #"<dialog id="deploy-v3""#)!.lowerBound...])
        #expect(dialog.contains("<tr><td>Recall@100</td><td>0.3500</td><td>0.4100</td><td><span class=\"delta better\">↑ +0.0600</span></td></tr>"))
        #expect(dialog.contains("<tr><td>ndcg_at_10</td><td>0.1200</td><td>0.1100</td><td><span class=\"delta worse\">↓ −0.0100</span></td></tr>"))
        #expect(dialog.range(of: "ndcg_at_10")!.lowerBound < dialog.range(of: "alpha")!.lowerBound)
        #expect(dialog.contains(#"<input type="number" name="version" value="3" hidden>"#) && dialog.contains(#"name="endpoint" value="shop""#))
        #expect(dialog.contains("The current version (v2) stays warm for an instant rollback.") && dialog.contains(#"class="error form-error""#))
        // A gradual rollout's step settings are sent only when gradual is chosen (the page's script enables them).
        #expect(dialog.contains(#"<fieldset data-when="strategy=gradual" disabled>"#))
        #expect(dialog.contains(#"name="step_seconds" min="0" max="86400""#) && dialog.contains(#"name="min_requests" min="0""#))
        #expect(!dialog.contains(#"value="gradual" disabled"#))
        var first = Self.dashboard()
        first.live = []
        #expect(WebPages.deploymentDashboard(first, canEdit: true).contains(#"value="gradual" disabled"#), "nothing serves: immediate only")
        let viewer = WebPages.deploymentDashboard(Self.dashboard(), canEdit: false)
        #expect(!viewer.contains("<dialog") && !viewer.contains("data-api=") && viewer.contains("v3 · run #3"))
    }

    @Test("the history: each version's first deployment and status; a rollback to one the main endpoint can serve again")
    func history() {
        let html = WebPages.deploymentDashboard(Self.dashboard(), canEdit: true)
        #expect(html.contains(#"<input type="hidden" name="to_deployment" value="d-1">"#) && html.contains("Roll back to v1 (instant)"))
        #expect(!html.contains("Roll back to v3"), "v3 never served here")
        #expect(html.contains(#"<td><span class="badge deployed">current</span></td>"#) && html.contains("<td>never</td>") == false)
        #expect(html.contains(#"<span class="muted">never</span>"#), "v3 was never deployed")
        #expect(html.range(of: "<tr><td>v3</td>")!.lowerBound < html.range(of: "<tr><td>v1</td>")!.lowerBound, "newest first")
        #expect(html.contains(#"data-api="/api/endpoints/shop/undeploy""#) && !html.contains("/api/endpoints/old/undeploy"))
    }
}
