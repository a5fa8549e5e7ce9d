import Foundation
import HTTPTypes
import SlipwayPlatform
import SlipwayTestSupport
import Testing
import TrainingCore

@testable import GatewayCore

/// The training pages: run cards with their nine stage segments, a run's page with its stages, charts, Data Insights,
/// log and configuration, the line charts they draw with; and the pages on a gateway in front of a real training-svc.
@Suite("Gateway: training pages", .serialized, .timeLimit(.minutes(3)))
struct TrainingPagesTests {
    static let stageNames = ["compile", "examples", "stats", "schema", "transform", "train", "evaluate", "register", "deploy"]

    /// A run as training-svc's API answers it, with `changes` over a pending run of nine pending stages.
    static func run(_ changes: [String: Any] = [:]) throws -> TrainingRun {
        var fields: [String: Any] = [
            "id": "shop-1", "name": "shop", "display_name": "shop #1", "description": "", "model_type": "retrieval", "status": "pending",
            "stages": stageNames.map { ["name": $0, "status": "pending"] }, "config": ["dataset_id": "ds", "training_params": ["epochs": 3]],
            "metrics": [String: Double](), "epochs_completed": 0, "total_epochs": 0, "trigger": "manual", "deployment_status": "pending",
            "created_by": "ann", "created_at": "2027-01-15T08:00:00Z",
        ]
        fields.merge(changes) { _, new in new }
        return try PlatformJSON.decoder.decode(TrainingRun.self, from: try JSONSerialization.data(withJSONObject: fields))
    }

    @Test("names, errors, logs and configuration from a service are written as text, never as markup")
    func escaping() throws {
        let hostile = #"<script>alert("x")</script>"#
        let run = try Self.run([
            "display_name": hostile, "description": hostile, "created_by": "<b>ann</b>", "status": "failed", "error_message": hostile,
            "config": ["dataset_id": hostile],
            "stages": [
                ["name": "compile", "status": "failed", "error": hostile, "details": ["artifacts": ["log": hostile], "metrics": [String: Double]()]]
            ],
        ])
        let card = WebPages.card(run)
        let page = WebPages.runHeader(run) + WebPages.runSummary(run) + WebPages.stageList(run.stages) + WebPages.configuration(run)
        let log = WebPages.logTail(.success(TrainingLog(lines: ["ok", hostile], totalLines: 2)))
        for html in [card, page, log] {
            #expect(!html.contains("<script>") && !html.contains("<b>ann"), "\(html)")
        }
        #expect(card.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;") && card.contains("&lt;b&gt;ann&lt;/b&gt;"))
        #expect(log.contains("ok\n&lt;script&gt;"))
        // The configuration is JSON as the service wrote it (snake_case keys), escaped.
        #expect(page.contains("&quot;dataset_id&quot; : &quot;&lt;script&gt;"), "\(page)")
        // A hostile run id stays one path segment of the link.
        #expect(WebPages.card(try Self.run(["id": #"a/../"x"#])).contains(#"href="/training/a%2F..%2F%22x""#))
    }

    @Test("a card shows one segment per stage, coloured by status and labelled in text; duration, Recall@100, trigger and who")
    func stageSegments() throws {
        let statuses = ["completed", "completed", "completed", "completed", "completed", "failed", "cancelled", "skipped", "pending"]
        let run = try Self.run([
            "status": "failed", "trigger": "scheduled", "recall_at_100": 0.4321, "duration_seconds": 185.0,
            "stages": zip(Self.stageNames, statuses).map { ["name": $0, "status": $1] },
        ])
        let card = WebPages.card(run)
        #expect(card.components(separatedBy: #"<li class="segment "#).count - 1 == 9)
        for (name, status) in zip(Self.stageNames, statuses) {
            #expect(card.contains(#"<li class="segment \#(status)" title="\#(name): \#(status)">"#), "\(name)")
            #expect(card.contains(#"<span class="visually-hidden">\#(name): \#(status)</span>"#))
        }
        #expect(card.contains(">✓<") && card.contains(">✕<") && card.contains(">○<"), "a sign besides the colour")
        #expect(card.contains("3 min 05 s") && card.contains("0.432") && card.contains("scheduled by ann"))
        #expect(card.contains(#"<span class="badge failed">failed</span>"#))
        #expect(WebPages.duration(0.25) == "250 ms" && WebPages.duration(42.14) == "42.1 s" && WebPages.duration(7625) == "2 h 07 min")
    }

    @Test("actions follow the run's state; a viewer's page has none (see the live test)")
    func actionsByState() throws {
        let running = WebPages.actions(try Self.run(["status": "running"]))
        #expect(running.contains("/api/training-runs/shop-1/cancel") && !running.contains("/rerun") && !running.contains("/push"))
        #expect(running.contains(#"role="alert""#) && running.contains(#"<form data-api="/api/training-runs/shop-1/cancel""#))
        let completed = WebPages.actions(try Self.run(["status": "completed"]))
        #expect(completed.contains("/api/training-runs/shop-1/rerun") && completed.contains("/api/training-runs/shop-1/push"))
        #expect(completed.contains(#"data-redirect="/training/{training_run.id}""#), "a rerun opens the new run's page")
        let registered = WebPages.actions(
            try Self.run([
                "status": "completed", "registered_model": ["model_name": "shop", "version": 2, "registered_at": "2027-01-15T09:00:00Z"],
            ]))
        #expect(registered.contains("/rerun") && !registered.contains("/push"))
    }

    @Test("downsampling keeps each bucket's lowest and highest point, in order, and bounds the count")
    func downsampling() {
        var points = (0..<43_200).map { Charts.Point(x: Double($0), y: sin(Double($0) / 500)) }
        points[12_345].y = 40
        points[30_001].y = -7
        points[100].y = .nan
        points[200].x = .infinity
        let kept = Charts.downsample(points, to: 600)
        #expect(kept.count <= 600 && kept.count >= 500)
        #expect(kept.contains(Charts.Point(x: 12_345, y: 40)) && kept.contains(Charts.Point(x: 30_001, y: -7)), "the spikes survive")
        #expect(zip(kept, kept.dropFirst()).allSatisfy { $0.x < $1.x })
        #expect(kept.allSatisfy { $0.x.isFinite && $0.y.isFinite })
        #expect(kept.first?.x == 0 || kept.first?.x == 1)
        // Short series are kept as they are, less what cannot be drawn.
        #expect(Charts.downsample([.init(x: 1, y: 2), .init(x: 2, y: .infinity)], to: 600) == [.init(x: 1, y: 2)])

        let chart = Charts.line(title: "Requests", series: [.init(name: "p99", points: points)], x: .init(label: "minute"), y: .init(label: "ms"))
        let polyline = chart.components(separatedBy: #"points=""#).dropFirst().first?.components(separatedBy: "\"").first ?? ""
        #expect((500...600).contains(polyline.split(separator: " ").count))
        #expect(!chart.contains("<circle"), "no dots on a long series")
        #expect(chart.contains(#"role="img""#) && chart.contains("<title>Requests: p99 between -7 and 40 over minute 0 to 43.2k"))
    }

    /// Whether every coordinate an SVG gives (positions and polyline points) is a finite number.
    static func coordinatesAreFinite(_ svg: String) -> Bool {
        let values = svg.matches(of: /(?:x|y|x1|x2|y1|y2|cx|cy|points)="([^"]*)"/).flatMap { $0.1.split(whereSeparator: { $0 == " " || $0 == "," }) }
        return !values.isEmpty && values.allSatisfy { Double($0)?.isFinite == true }
    }

    @Test("an empty, a non-finite or a one-point chart still renders, with a text alternative")
    func degenerateCharts() {
        let axis = Charts.Axis(label: "epoch", format: { String(Int($0)) }, integral: true)
        for series in [[], [Charts.Series(name: "loss", points: [])], [Charts.Series(name: "loss", points: [.init(x: 1, y: .nan)])]] {
            let chart = Charts.line(title: "Loss", series: series, x: axis, y: .init(label: "loss"))
            #expect(chart.contains(#"aria-label="Loss: no data yet""#) && chart.contains("No data yet"))
        }
        let one = Charts.line(title: "Loss", series: [.init(name: "loss", points: [.init(x: 1, y: 0.5)])], x: axis, y: .init(label: "loss"))
        #expect(one.contains("<circle") && one.contains(">1</text>") && Self.coordinatesAreFinite(one))
        let flat = Charts.line(
            title: "Loss", series: [.init(name: "loss", points: [.init(x: 1, y: 0), .init(x: 2, y: 0)])], x: axis, y: .init(label: "loss"))
        #expect(flat.contains("<polyline") && Self.coordinatesAreFinite(flat))
        #expect(Charts.ticks(1...3, integral: true) == [1, 2, 3])
        #expect(Charts.ticks(0...10, integral: false) == [0, 5, 10] && Charts.ticks(0...1, integral: false) == [0, 0.5, 1])
        #expect(Charts.number(0.04213) == "0.0421" && Charts.number(1_250_000) == "1.25M" && Charts.number(3.5) == "3.5")
        // Two series on one chart: two colours and a legend naming both.
        let two = Charts.line(
            title: "Loss", series: [.init(name: "loss", points: [.init(x: 1, y: 1)]), .init(name: "<val>", points: [.init(x: 1, y: 2)])], x: axis,
            y: .init(label: "loss"))
        #expect(two.contains(#"class="line s0""#) && two.contains(#"class="line s1""#) && two.contains("&lt;val&gt;</li>"))
    }

    // MARK: On a gateway, in front of a real training-svc

    /// Logs `username` in with a password set by the admin; answers the session cookie.
    @Test("the cards list a real run and its page shows the stages, charts and insights; bad input is said on the page, never a 500")
    func withTrainingService() async throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("training-pages-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        // No schedule-svc answers this training-svc (port 1 refuses at once).
        let reader = ConfigReader(
            arguments: ["--artifact-root", scratch.appendingPathComponent("artifacts").path, "--peer", "schedule=http://127.0.0.1:1"],
            environment: [:])
        try await withTestService(TrainingService.definition(reader: reader), reader: reader, live: true) { training in
            for (path, json) in [
                ("/api/datasets", #"{"name": "ds", "transactions": "/nowhere/transactions.csv"}"#),
                ("/api/feature-configs", #"{"name": "fc", "query": [{"name": "customer_id"}], "candidate": [{"name": "product_id"}]}"#),
                ("/api/model-configs", #"{"name": "mc", "output_dim": 16}"#),
            ] {
                try await training.api.post(path, json, expect: .created)
            }
            // An external run, reported through its webhooks as a trainer would: five stages, then three epochs of training.
            let created = try await training.api.post(
                "/api/training-runs",
                #"{"name": "shop", "description": "<i>nightly</i>", "dataset_id": "ds", "feature_config_id": "fc", "model_config_id": "mc", "executor": "external", "training_params": {"epochs": 5}}"#,
                headers: .actor("ann"), expect: .created
            ).json()
            let token = try #require((created["webhook"] as? [String: Any])?["token"] as? String)
            let hook = "/api/training-runs/shop-1/webhook"
            let auth: HTTPFields = [.authorization: "Bearer \(token)"]
            let statistics = scratch.appendingPathComponent("statistics.json")
            try Data(
                #"{"num_examples": 1200, "splits": {"train": 1000, "validation": 100, "test": 100}, "numeric_columns": 1, "categorical_columns": 1, "features": [{"name": "revenue", "source": "transactions", "type": "numeric", "count": 1190, "missing_pct": 0.83, "mean": 12.5, "std": 3.1, "zeros_pct": 0, "min": 1, "median": 12, "max": 99, "histogram": {"min": 1, "max": 99, "counts": [5, 40, 300, 500, 200, 100, 30, 10, 4, 1]}}, {"name": "category", "source": "products", "type": "categorical", "count": 1200, "missing_pct": 0, "unique": 7, "top_values": [{"value": "<shoes>", "count": 400}]}]}"#
                    .utf8
            ).write(to: statistics)
            let schema = scratch.appendingPathComponent("schema.json")
            try Data(#"{"features": [{"name": "revenue", "type": "float", "presence": 0.99, "source": "transactions"}], "anomalies": []}"#.utf8)
                .write(to: schema)
            for (stage, artifacts) in [
                ("compile", "{}"), ("examples", "{}"), ("stats", #"{"statistics": "\#(statistics.path)"}"#),
                ("schema", #"{"schema": "\#(schema.path)"}"#),
                ("transform", "{}"),
            ] {
                try await training.api.post(
                    "\(hook)/stage-complete",
                    #"{"stage": "\#(stage)", "duration_seconds": 1.5, "artifacts": \#(artifacts), "metrics": {"rows": 1200}}"#,
                    headers: auth, expect: .ok)
            }
            try await training.api.post("\(hook)/stage-complete", #"{"stage": "train", "status": "started"}"#, headers: auth, expect: .ok)
            for (epoch, loss) in [(1, 0.9), (2, 0.6), (3, 0.45)] {
                try await training.api.post(
                    "\(hook)/epoch-complete",
                    #"{"epoch": \#(epoch), "total_epochs": 5, "loss": \#(loss), "val_loss": \#(loss + 0.1), "recall_at_100": \#(0.2 * Double(epoch)), "metrics": {"examples_per_s": 900}}"#,
                    headers: auth, expect: .ok)
            }

            try await GatewayAuthTests.withGateway(upstreamPort: training.port) { gateway, admin, _ in
                let api = gateway.api
                #expect(try await api.send(.get, "/training").headers[.location] == "/login?next=%2Ftraining")
                let cookie = try await WebPagesTests.browserSession(api, admin: admin, username: "admin")
                let session: HTTPFields = [.cookie: cookie]

                let cards = try await api.send(.get, "/training", headers: session, expect: .ok)
                #expect(cards.text.contains(#"<a href="/training" aria-current="page">Training</a>"#))
                #expect(cards.text.contains(#"<a href="/training/shop-1">shop #1</a>"#) && cards.text.contains(#"<span class="badge running">"#))
                #expect(cards.text.components(separatedBy: #"<li class="segment "#).count - 1 == 9)
                #expect(cards.text.contains(#"title="stats: completed""#) && cards.text.contains(#"title="train: running""#))
                #expect(cards.text.contains("manual by ann") && cards.text.contains("3/5"))
                let none = try await api.send(.get, "/training?status=completed&model=shop", headers: session, expect: .ok)
                #expect(none.text.contains("No training runs match these filters") && none.text.contains(#"<option value="completed" selected>"#))
                #expect(try await api.send(.get, "/training?model=shop", headers: session, expect: .ok).text.contains("shop #1"))

                // Bad input: said on the page with the service's own words, as a 400 — never a 500.
                let badStatus = try await api.send(.get, "/training?status=bogus", headers: session)
                #expect(badStatus.status == .badRequest && badStatus.text.contains("status must be one of"))
                #expect(badStatus.text.contains(#"role="alert""#))
                for page in ["abc", "0", "-1", "99999999999"] {
                    let bad = try await api.send(.get, "/training?page=\(page)", headers: session)
                    #expect(bad.status == .badRequest && bad.text.contains("page must be a whole number"), "\(page)")
                }
                #expect(try await api.send(.get, "/training?page=3", headers: session, expect: .ok).text.contains("Page 3 is past the end"))

                let page = try await api.send(.get, "/training/shop-1", headers: session, expect: .ok)
                for stage in Self.stageNames { #expect(page.text.contains("<strong>\(stage)</strong>"), "\(stage)") }
                #expect(page.text.contains("&lt;i&gt;nightly&lt;/i&gt;") && !page.text.contains("<i>nightly"))
                #expect(page.text.contains("Loss per epoch") && page.text.contains("<polyline") && page.text.contains("recall_at_100"))
                #expect(page.text.contains("examples_per_s per epoch"), "a throughput has a chart of its own")
                #expect(page.text.contains("Numeric features") && page.text.contains("revenue") && page.text.contains("&lt;shoes&gt; (400)"))
                #expect(page.text.contains(#"class="histogram""#) && page.text.contains("<h3>Schema</h3>"))
                #expect(page.text.contains(#"&quot;dataset_id&quot; : &quot;ds&quot;"#), "the configuration")
                #expect(page.text.contains(#"data-api="/api/training-runs/shop-1/cancel""#) && !page.text.contains("/rerun\""))

                // A viewer reads the same page without a button.
                let viewer = try await WebPagesTests.browserSession(api, admin: admin, username: "vera", role: "viewer")
                let viewed = try await api.send(.get, "/training/shop-1", headers: [.cookie: viewer], expect: .ok)
                #expect(viewed.text.contains("<strong>train</strong>") && !viewed.text.contains("data-api="))

                // What the Cancel button sends (the session's cookie and CSRF token) cancels the run; then Rerun is offered.
                let csrf = try #require(try await api.get("/api/session", headers: session, expect: .ok).json()["csrf_token"] as? String)
                try await api.post("/api/training-runs/shop-1/cancel", "{}", headers: [.cookie: cookie, .csrfToken: csrf], expect: .ok)
                let cancelled = try await api.send(.get, "/training/shop-1", headers: session, expect: .ok)
                #expect(cancelled.text.contains(#"data-api="/api/training-runs/shop-1/rerun""#) && !cancelled.text.contains("/cancel\""))
                #expect(cancelled.text.contains(#"<span class="badge cancelled">"#))

                let unknown = try await api.send(.get, "/training/nope", headers: session)
                #expect(unknown.status == .notFound && unknown.text.contains("no training run &#39;nope&#39;"), "\(unknown.text)")
            }
        }
    }
}
