import Foundation
import HTTPTypes
import Hummingbird
import SlipwayContracts
import SlipwayPlatform

/// The training pages: the runs as cards, newest first, a page at a time through training-svc's own pagination; and one
/// run with its stages, per-epoch charts, Data Insights, log and configuration, and the actions the user's role allows.
extension WebPages {
    /// The cards, filtered by status and model, a page at a time (`GET /api/training-runs?status=&name=&limit=&offset=`).
    @Sendable func trainingRuns(_ request: Request, context: SlipwayRequestContext) async throws -> Response {
        guard let user = try await user(request) else { return Self.loginRedirect(request) }
        let query = request.uri.queryParameters
        let filters = TrainingFilters(status: query.get("status") ?? "", model: query.get("model") ?? "")
        var main = "<h1>Training runs</h1>"
        if user.role != "viewer" { main += #"<p><a class="button" href="/training/new">New training run</a></p>"# }
        main += filters.form
        func answer(_ status: HTTPResponse.Status = .ok) -> Response {
            HTML.page(HTML.layout(title: "Training", user: user, current: "training", live: ["training"], main: main), status: status)
        }
        // training-svc's offset reaches Int32.max.
        let page: Int
        switch Self.pageNumber(query.get("page"), last: Int(Int32.max) / Self.pageSize) {
        case .success(let number): page = number
        case .failure(let problem):
            main += problem.html
            return answer(problem.status)
        }
        let list: TrainingRunList
        switch try await read(TrainingRunList.self, from: "training", "/api/training-runs" + filters.apiQuery(page: page), for: user) {
        case .success(let read): list = read
        case .failure(let problem):
            main += problem.html
            return answer(problem.status)
        }
        let pages = max(1, (list.pagination.total + Self.pageSize - 1) / Self.pageSize)
        if list.trainingRuns.isEmpty {
            main +=
                list.pagination.total > 0
                ? #"<p class="muted">Page \#(page) is past the end: \#(list.pagination.total) runs fill \#(pages) pages.</p>"#
                    + filters.pager(page: pages, pages: pages)
                : #"<p class="muted">No training runs\#(filters.isEmpty ? " yet: train one with <code>slipway train --demo</code>" : " match these filters").</p>"#
            return answer()
        }
        main += #"<p class="muted">\#(list.pagination.total) run\#(list.pagination.total == 1 ? "" : "s")</p>"#
        main += #"<div class="run-cards">"# + list.trainingRuns.map(Self.card).joined() + "</div>"
        if pages > 1 { main += filters.pager(page: page, pages: pages) }
        return answer()
    }

    /// One run: what training-svc says of it, its epochs and its log, read together; its statistics and schema when its
    /// stages wrote them.
    @Sendable func trainingRun(_ request: Request, context: SlipwayRequestContext) async throws -> Response {
        guard let user = try await user(request) else { return Self.loginRedirect(request) }
        let id = try context.parameters.require("id")
        let path = "/api/training-runs/" + Self.pathSegment(id)
        async let runAnswer = read(TrainingRun.self, from: "training", path, for: user)
        async let epochsAnswer = read(TrainingEpochs.self, from: "training", path + "/metrics", for: user)
        async let logAnswer = read(TrainingLog.self, from: "training", path + "/logs?lines=200", for: user)
        let run: TrainingRun
        switch try await runAnswer {
        case .success(let read): run = read
        case .failure(let problem):
            let main = #"<h1>Training run \#(HTML.escape(id))</h1>"# + problem.html + #"<p><a href="/training">All training runs</a></p>"#
            return HTML.page(HTML.layout(title: "Training run", user: user, current: "training", main: main), status: problem.status)
        }
        let hasStatistics = run.stages.first { $0.name == "stats" }?.details?.artifacts["statistics"] != nil
        let hasSchema = run.stages.first { $0.name == "schema" }?.details?.artifacts["schema"] != nil
        async let statisticsAnswer = hasStatistics ? read(RunDataStatistics.self, from: "training", path + "/statistics", for: user) : nil
        async let schemaAnswer = hasSchema ? read(RunDataSchema.self, from: "training", path + "/schema", for: user) : nil
        let insights = Self.dataInsights(statistics: try await statisticsAnswer, schema: try await schemaAnswer)
        let charts = Self.epochCharts(try await epochsAnswer)
        let log = Self.logTail(try await logAnswer)
        let mayAct = Role(name: user.role).map { $0 >= .editor } ?? false
        let main =
            Self.runHeader(run) + (mayAct ? Self.actions(run) : "") + Self.runSummary(run) + Self.stageList(run.stages) + charts + insights + log
            + Self.configuration(run)
        // Live: the stages, epochs and log move as training-svc records them.
        return HTML.page(HTML.layout(title: run.displayName, user: user, current: "training", live: ["training"], main: main))
    }

    // MARK: Cards

    /// A run's card: its name and model, status, the nine stage segments, duration, Recall@100, trigger and who started it.
    static func card(_ run: TrainingRun) -> String {
        let recall = run.recallAt100.map { String(format: "%.3f", $0) } ?? #"<span class="muted">—</span>"#
        let epochs = run.totalEpochs > 0 ? "\(run.epochsCompleted)/\(run.totalEpochs)" : #"<span class="muted">—</span>"#
        let problem = run.errorMessage.map { #"<p class="run-error">\#(HTML.escape($0))</p>"# } ?? ""
        return """
            <article class="run-card">
            <div class="run-title"><h2><a href="/training/\(HTML.escape(pathSegment(run.id)))">\(HTML.escape(run.displayName))</a></h2>\(badge(run.status))</div>
            <p class="muted">\(HTML.escape(run.name)) · \(HTML.escape(run.modelType)) · \(HTML.escape(run.trigger)) by \(HTML.escape(run.createdBy)) · \
            <time datetime="\(run.createdAt.ISO8601Format())">\(day(run.createdAt))</time></p>
            <dl class="facts"><div><dt>Duration</dt><dd>\(runDuration(run))</dd></div><div><dt>Recall@100</dt><dd>\(recall)</dd></div>\
            <div><dt>Epochs</dt><dd>\(epochs)</dd></div></dl>
            \(problem)\(segments(run.stages))
            </article>
            """
    }

    /// One small segment per stage, coloured by its status and marked with a symbol and a hidden text, so the colour
    /// is never the only sign.
    static func segments(_ stages: [TrainingRun.Stage]) -> String {
        let items = stages.map { stage in
            let label = "\(stage.name): \(stage.status)"
            return
                #"<li class="segment \#(HTML.escape(stage.status))" title="\#(HTML.escape(label))"><span aria-hidden="true">\#(mark(stage.status))</span>"#
                + #"<span class="visually-hidden">\#(HTML.escape(label))</span></li>"#
        }.joined()
        return #"<ol class="segments" aria-label="Stages">\#(items)</ol>"#
    }

    /// The symbol of a stage's status.
    static func mark(_ status: String) -> String {
        switch status {
        case "completed": "✓"
        case "running": "●"
        case "failed": "✕"
        case "skipped": "–"
        case "cancelled": "⊘"
        default: "○"
        }
    }

    /// How long the run took, or has been running.
    static func runDuration(_ run: TrainingRun, now: Date = Date()) -> String {
        if let seconds = run.durationSeconds { return duration(seconds) }
        if let started = run.startedAt { return "running for " + duration(now.timeIntervalSince(started)) }
        return #"<span class="muted">—</span>"#
    }

    /// 850 ms, 42.1 s, 3 min 05 s, 2 h 07 min.
    static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds >= 0 else { return "—" }
        if seconds < 1 { return "\(Int((seconds * 1000).rounded())) ms" }
        if seconds < 60 { return String(format: "%.1f s", seconds) }
        let whole = Int(seconds.rounded())
        if whole < 3600 { return String(format: "%d min %02d s", whole / 60, whole % 60) }
        return String(format: "%d h %02d min", whole / 3600, whole % 3600 / 60)
    }

    // MARK: One run

    static func runHeader(_ run: TrainingRun) -> String {
        let rerun = run.rerunOf.map { #" · rerun of <a href="/training/\#(HTML.escape(pathSegment($0)))">\#(HTML.escape($0))</a>"# } ?? ""
        let description = run.description.isEmpty ? "" : #"<p>\#(HTML.escape(run.description))</p>"#
        return """
            <p><a href="/training">← Training runs</a></p>
            <div class="run-title"><h1>\(HTML.escape(run.displayName))</h1>\(badge(run.status))</div>
            <p class="muted">\(HTML.escape(run.name)) · \(HTML.escape(run.modelType)) · \(HTML.escape(run.trigger)) by \(HTML.escape(run.createdBy)) · \
            created <time datetime="\(run.createdAt.ISO8601Format())">\(day(run.createdAt))</time>\(rerun)</p>\(description)
            """
    }

    /// Cancel while it runs, rerun once it has ended (then the new run's page opens), push to the registry when it
    /// completed unregistered: each a `form[data-api]` (see `HTML.script`).
    static func actions(_ run: TrainingRun) -> String {
        let path = "/api/training-runs/" + pathSegment(run.id)
        var forms: [String] = []
        if ["pending", "scheduled", "submitting", "running"].contains(run.status) {
            forms.append(
                #"<form data-api="\#(path)/cancel" data-confirm="Cancel this run?"><button type="submit" class="secondary">Cancel run</button></form>"#
            )
        } else {
            forms.append(#"<form data-api="\#(path)/rerun" data-redirect="/training/{training_run.id}"><button type="submit">Rerun</button></form>"#)
        }
        if run.status == "completed", run.registeredModel == nil {
            forms.append(#"<form data-api="\#(path)/push"><button type="submit">Push to registry</button></form>"#)
        }
        return
            #"<section class="actions" aria-label="Actions">\#(forms.joined())<p class="error" role="alert" id="action-error" hidden></p></section>"#
    }

    /// The figures of the run, its failure, its registration and deployment.
    static func runSummary(_ run: TrainingRun) -> String {
        var figures = [("Duration", runDuration(run))]
        if run.totalEpochs > 0 { figures.append(("Epochs", "\(run.epochsCompleted)/\(run.totalEpochs)")) }
        for (label, value) in [("Recall@10", run.metrics["recall_at_10"]), ("Recall@100", run.recallAt100)] {
            if let value, value.isFinite { figures.append((label, String(format: "%.3f", value))) }
        }
        if let blessed = run.isBlessed { figures.append(("Evaluation", blessed ? "blessed" : "not blessed")) }
        var html = HTML.kpis("Run figures", figures)
        if let message = run.errorMessage {
            let stage = run.failedStage.map { " (stage \(HTML.escape($0)))" } ?? ""
            html += #"<p class="error">\#(HTML.escape(message))\#(stage)</p>"#
        }
        if let registration = run.registeredModel {
            html += """
                <p>Registered as <a href="/models/\(pathSegment(registration.modelName))">\
                \(HTML.escape(registration.modelName))</a> v\(registration.version) on \(day(registration.registeredAt)).</p>
                """
        }
        if run.deploymentStatus != "pending" || run.deployedEndpointUrl != nil {
            let endpoint = run.deployedEndpointUrl.map { " at <code>\(HTML.escape($0))</code>" } ?? ""
            let error = run.deploymentError.map { #"<span class="run-error"> \#(HTML.escape($0))</span>"# } ?? ""
            html += "<p>Deployment: \(HTML.escape(run.deploymentStatus))\(endpoint).\(error)</p>"
        }
        if !run.metrics.isEmpty {
            let rows = run.metrics.sorted { $0.key < $1.key }.map {
                #"<tr><th scope="row">\#(HTML.escape($0.key))</th><td>\#(Charts.number($0.value))</td></tr>"#
            }
            html += """
                <details><summary>Final metrics (\(run.metrics.count))</summary><div class="table"><table><tbody>\(rows.joined())</tbody></table></div></details>
                """
        }
        return html
    }

    /// Each stage with its status, when it started, how long it took, its metrics and artifacts, and its error.
    static func stageList(_ stages: [TrainingRun.Stage]) -> String {
        let items = stages.map { stage -> String in
            var timing: [String] = []
            if let started = stage.startedAt { timing.append(#"started <time datetime="\#(started.ISO8601Format())">\#(day(started))</time>"#) }
            if let seconds = stage.durationSeconds { timing.append(duration(seconds)) }
            var details = ""
            if let metrics = stage.details?.metrics, !metrics.isEmpty {
                details +=
                    #"<dl class="stage-details">"#
                    + metrics.sorted { $0.key < $1.key }.map { "<div><dt>\(HTML.escape($0.key))</dt><dd>\(Charts.number($0.value))</dd></div>" }
                    .joined()
                    + "</dl>"
            }
            if let artifacts = stage.details?.artifacts, !artifacts.isEmpty {
                details +=
                    #"<ul class="artifacts">"#
                    + artifacts.sorted { $0.key < $1.key }.map { "<li>\(HTML.escape($0.key)): <code>\(HTML.escape($0.value))</code></li>" }.joined()
                    + "</ul>"
            }
            if let error = stage.error, !error.isEmpty { details += #"<p class="run-error">\#(HTML.escape(error))</p>"# }
            return """
                <li class="stage"><div class="stage-head"><span class="mark \(HTML.escape(stage.status))" aria-hidden="true">\(mark(stage.status))</span>\
                <strong>\(HTML.escape(stage.name))</strong>\(badge(stage.status))<span class="muted">\(timing.joined(separator: " · "))</span></div>\
                \(details)</li>
                """
        }.joined()
        return #"<section aria-labelledby="stages-title"><h2 id="stages-title">Stages</h2><ol class="stage-list">\#(items)</ol></section>"#
    }

    /// Loss and validation loss per epoch, then the recorded metrics: those within 0…1 (recalls and other rates) share a
    /// chart, any other (a throughput) has its own, since one scale would flatten the rest.
    static func epochCharts(_ answer: Result<TrainingEpochs, PageProblem>) -> String {
        var html = #"<section aria-labelledby="epochs-title"><h2 id="epochs-title">Training</h2>"#
        switch answer {
        case .failure(let problem): return html + problem.html + "</section>"
        case .success(let read) where read.epochs.isEmpty: return html + #"<p class="muted">No epochs reported yet.</p></section>"#
        case .success(let read):
            let epochs = read.epochs
            func series(_ name: String, _ value: (TrainingEpochs.Epoch) -> Double?) -> Charts.Series {
                Charts.Series(name: name, points: epochs.compactMap { epoch in value(epoch).map { Charts.Point(x: Double(epoch.epoch), y: $0) } })
            }
            let axis = Charts.Axis(label: "epoch", format: { String(Int($0)) }, integral: true)
            html += #"<div class="charts">"#
            html += Charts.line(
                title: "Loss per epoch", series: [series("loss") { $0.loss }, series("val_loss") { $0.valLoss }], x: axis,
                y: Charts.Axis(label: "loss"))
            let names = Set(epochs.flatMap(\.metrics.keys)).sorted()
            let rates = names.filter { name in epochs.compactMap { $0.metrics[name] }.filter(\.isFinite).allSatisfy { (0...1).contains($0) } }
            if !rates.isEmpty {
                html += Charts.line(
                    title: "Metrics per epoch", series: rates.map { name in series(name) { $0.metrics[name] } }, x: axis,
                    y: Charts.Axis(label: "value"))
            }
            for name in names where !rates.contains(name) {
                html += Charts.line(title: "\(name) per epoch", series: [series(name) { $0.metrics[name] }], x: axis, y: Charts.Axis(label: name))
            }
            return html + "</div></section>"
        }
    }

    /// Data Insights: the dataset's statistics and the inferred schema, as the `stats` and `schema` stages wrote them.
    static func dataInsights(statistics: Result<RunDataStatistics, PageProblem>?, schema: Result<RunDataSchema, PageProblem>?) -> String {
        var html = #"<section aria-labelledby="insights-title"><h2 id="insights-title">Data Insights</h2>"#
        if statistics == nil && schema == nil {
            return html + #"<p class="muted">No statistics or schema yet: the stats and schema stages write them.</p></section>"#
        }
        switch statistics {
        case .failure(let problem)?: html += problem.html
        case .success(let stats)?: html += statisticsHTML(stats)
        case nil: break
        }
        switch schema {
        case .failure(let problem)?: html += problem.html
        case .success(let schema)?: html += schemaHTML(schema)
        case nil: break
        }
        return html + "</section>"
    }

    static func statisticsHTML(_ stats: RunDataStatistics) -> String {
        let features = stats.features ?? []
        let missing = features.compactMap(\.missingPct)
        var figures: [(String, String)] = [("Examples", stats.numExamples.map(String.init) ?? "—")]
        if let splits = stats.splits {
            figures += [
                ("Train", splits.train.map(String.init) ?? "—"), ("Validation", splits.validation.map(String.init) ?? "—"),
                ("Test", splits.test.map(String.init) ?? "—"),
            ]
        }
        figures += [
            ("Numeric features", stats.numericColumns.map(String.init) ?? "—"),
            ("Categorical features", stats.categoricalColumns.map(String.init) ?? "—"),
            ("Average missing", missing.isEmpty ? "—" : String(format: "%.1f%%", missing.reduce(0, +) / Double(missing.count))),
        ]
        var html = HTML.kpis("Dataset statistics", figures)
        func value(_ number: Double?) -> String { number.map(Charts.number) ?? "—" }
        func percent(_ number: Double?) -> String { number.map { String(format: "%.1f%%", $0) } ?? "—" }
        let numeric = features.filter { $0.type == "numeric" }
        if !numeric.isEmpty {
            let rows = numeric.map { feature in
                "<tr><th scope=\"row\">\(HTML.escape(feature.name))</th><td>\(HTML.escape(feature.source ?? ""))</td><td>\(feature.count.map(String.init) ?? "—")</td>"
                    + "<td>\(percent(feature.missingPct))</td><td>\(value(feature.mean))</td><td>\(value(feature.std))</td><td>\(percent(feature.zerosPct))</td>"
                    + "<td>\(value(feature.min))</td><td>\(value(feature.median))</td><td>\(value(feature.max))</td>"
                    + "<td>\(histogram(feature.histogram?.counts ?? [], of: feature.name))</td></tr>"
            }.joined()
            html += """
                <h3>Numeric features</h3><div class="table"><table><thead><tr><th scope="col">Feature</th><th scope="col">Source</th>\
                <th scope="col">Count</th><th scope="col">Missing</th><th scope="col">Mean</th><th scope="col">Std dev</th><th scope="col">Zeros</th>\
                <th scope="col">Min</th><th scope="col">Median</th><th scope="col">Max</th><th scope="col">Distribution</th></tr></thead>\
                <tbody>\(rows)</tbody></table></div>
                """
        }
        let categorical = features.filter { $0.type == "categorical" }
        if !categorical.isEmpty {
            let rows = categorical.map { feature in
                let top = (feature.topValues ?? []).prefix(5).map { "\(HTML.escape($0.value)) (\($0.count))" }.joined(separator: ", ")
                return "<tr><th scope=\"row\">\(HTML.escape(feature.name))</th><td>\(HTML.escape(feature.source ?? ""))</td>"
                    + "<td>\(feature.count.map(String.init) ?? "—")</td><td>\(percent(feature.missingPct))</td>"
                    + "<td>\(feature.unique.map(String.init) ?? "—")</td><td class=\"wrap\">\(top)</td></tr>"
            }.joined()
            html += """
                <h3>Categorical features</h3><div class="table"><table><thead><tr><th scope="col">Feature</th><th scope="col">Source</th>\
                <th scope="col">Count</th><th scope="col">Missing</th><th scope="col">Unique</th><th scope="col">Top values</th></tr></thead>\
                <tbody>\(rows)</tbody></table></div>
                """
        }
        return html
    }

    /// A feature's ten-bin histogram as small bars, with its counts as the text alternative.
    static func histogram(_ counts: [Int], of name: String) -> String {
        guard let highest = counts.max(), highest > 0 else { return "—" }
        let width = 6
        let bars = counts.enumerated().map { index, count in
            let height = max(1, Int((Double(count) / Double(highest) * 24).rounded()))
            return #"<rect x="\#(index * width)" y="\#(24 - height)" width="\#(width - 1)" height="\#(height)"/>"#
        }.joined()
        let label = "\(name) distribution: " + counts.map(String.init).joined(separator: ", ")
        return
            #"<svg class="histogram" viewBox="0 0 \#(counts.count * width) 24" width="\#(counts.count * width)" height="24" role="img" aria-label="\#(HTML.escape(label))">\#(bars)</svg>"#
    }

    static func schemaHTML(_ schema: RunDataSchema) -> String {
        let rows = (schema.features ?? []).map { feature in
            "<tr><th scope=\"row\">\(HTML.escape(feature.name))</th><td>\(HTML.escape(feature.type ?? ""))</td>"
                + "<td>\(feature.presence.map { String(format: "%.1f%%", $0 * 100) } ?? "—")</td><td>\(HTML.escape(feature.source ?? ""))</td>"
                + "<td>\(feature.domainSize.map(String.init) ?? "—")</td></tr>"
        }.joined()
        var html = """
            <h3>Schema</h3><div class="table"><table><thead><tr><th scope="col">Feature</th><th scope="col">Type</th>\
            <th scope="col">Presence</th><th scope="col">Source</th><th scope="col">Domain size</th></tr></thead><tbody>\(rows)</tbody></table></div>
            """
        let anomalies = schema.anomalies ?? []
        if !anomalies.isEmpty {
            html +=
                "<h3>Anomalies</h3><ul>"
                + anomalies.map { anomaly in
                    let subject = anomaly.feature ?? anomaly.file ?? "data"
                    let example = anomaly.exampleValue.map { " — e.g. “\(HTML.escape($0))”" } ?? ""
                    let row = anomaly.exampleRow.map { " at <code>\(HTML.escape($0))</code>" } ?? ""
                    return "<li>\(HTML.escape(subject)): \(HTML.escape(anomaly.kind ?? "anomaly")) × \(anomaly.count ?? 0)\(example)\(row)</li>"
                }.joined() + "</ul>"
        }
        return html
    }

    static func logTail(_ answer: Result<TrainingLog, PageProblem>) -> String {
        var html = #"<section aria-labelledby="log-title"><h2 id="log-title">Log</h2>"#
        switch answer {
        case .failure(let problem): html += problem.html
        case .success(let log) where log.lines.isEmpty: html += #"<p class="muted">No log lines yet.</p>"#
        case .success(let log):
            let shown = log.lines.count < log.totalLines ? #"<p class="muted">The last \#(log.lines.count) of \#(log.totalLines) lines.</p>"# : ""
            html += shown + #"<pre class="log" tabindex="0">\#(HTML.escape(log.lines.joined(separator: "\n")))</pre>"#
        }
        return html + "</section>"
    }

    /// The run's configuration as training-svc states it (dataset, feature and model configs, parameters), every key set.
    static func configuration(_ run: TrainingRun) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let text = (try? encoder.encode(run.config)).map { String(decoding: $0, as: UTF8.self) } ?? "(not readable)"
        return
            #"<section aria-labelledby="config-title"><h2 id="config-title">Configuration</h2><pre class="config" tabindex="0">\#(HTML.escape(text))</pre></section>"#
    }
}

/// The training list's filters, as the page's form and as training-svc's query.
struct TrainingFilters {
    var status: String
    var model: String

    /// The statuses training-svc lists runs by.
    static let statuses = [
        "pending", "scheduled", "submitting", "running", "completed", "failed", "cancelled", "not_blessed", "deploying", "deployed", "deploy_failed",
    ]

    var isEmpty: Bool { status.isEmpty && model.isEmpty }

    var items: [(String, String)] { [("status", status), ("model", model)].filter { !$0.1.isEmpty } }

    func apiQuery(page: Int) -> String {
        var components = URLComponents()
        components.queryItems =
            [("status", status), ("name", model)].filter { !$0.1.isEmpty }.map { URLQueryItem(name: $0.0, value: $0.1) } + [
                URLQueryItem(name: "limit", value: String(WebPages.pageSize)),
                URLQueryItem(name: "offset", value: String((page - 1) * WebPages.pageSize)),
            ]
        return "?" + (components.percentEncodedQuery ?? "")
    }

    var form: String {
        let options = [("", "All")] + Self.statuses.map { ($0, $0.replacingOccurrences(of: "_", with: " ")) }
        return """
            <form class="filters" method="get" action="/training" role="search">
            \(HTML.select("status", "Status", options, status))
            <label>Model <input type="search" name="model" value="\(HTML.escape(model))"></label>
            <button type="submit">Filter</button>
            </form>
            """
    }

    func pager(page: Int, pages: Int) -> String { HTML.pager(path: "/training", query: items, page: page, pages: pages) }
}

/// What the training pages read of a run (`GET /api/training-runs/{id}` and the list's items).
struct TrainingRun: Decodable {
    struct Stage: Decodable {
        struct Details: Decodable {
            var artifacts: [String: String]
            var metrics: [String: Double]
        }

        var name: String
        var status: String
        var startedAt: Date?
        var durationSeconds: Double?
        var details: Details?
        var error: String?
    }

    struct Registration: Decodable {
        var modelName: String
        var version: Int
        var registeredAt: Date
    }

    var id: String
    var name: String
    var displayName: String
    var description: String
    var modelType: String
    var status: String
    var stages: [Stage]
    var config: EmbeddedJSON
    var metrics: [String: Double]
    var recallAt100: Double?
    var isBlessed: Bool?
    var epochsCompleted: Int
    var totalEpochs: Int
    var errorMessage: String?
    var failedStage: String?
    var rerunOf: String?
    var trigger: String
    var registeredModel: Registration?
    var deploymentStatus: String
    var deploymentError: String?
    var deployedEndpointUrl: String?
    var createdBy: String
    var createdAt: Date
    var startedAt: Date?
    var durationSeconds: Double?
}

/// `GET /api/training-runs`.
struct TrainingRunList: Decodable {
    struct Pagination: Decodable {
        var total: Int
    }

    var trainingRuns: [TrainingRun]
    var pagination: Pagination
}

/// `GET /api/training-runs/{id}/metrics`: the epochs.
struct TrainingEpochs: Decodable {
    struct Epoch: Decodable {
        var epoch: Int
        var loss: Double
        var valLoss: Double
        var metrics: [String: Double]
    }

    var epochs: [Epoch]
}

/// `GET /api/training-runs/{id}/logs`.
struct TrainingLog: Decodable {
    var lines: [String]
    var totalLines: Int
}

/// `GET /api/training-runs/{id}/statistics`: the trainer's statistics (docs/trainer-and-bundle.md), read leniently —
/// what a trainer leaves out is shown as unknown.
struct RunDataStatistics: Decodable {
    struct Splits: Decodable {
        var train: Int?
        var validation: Int?
        var test: Int?
    }

    struct Feature: Decodable {
        struct Histogram: Decodable {
            var counts: [Int]
        }

        struct TopValue: Decodable {
            var value: String
            var count: Int
        }

        var name: String
        var source: String?
        var type: String?
        var count: Int?
        var missingPct: Double?
        var mean: Double?
        var std: Double?
        var zerosPct: Double?
        var min: Double?
        var median: Double?
        var max: Double?
        var histogram: Histogram?
        var unique: Int?
        var topValues: [TopValue]?
    }

    var numExamples: Int?
    var splits: Splits?
    var numericColumns: Int?
    var categoricalColumns: Int?
    var features: [Feature]?
}

/// `GET /api/training-runs/{id}/schema`.
struct RunDataSchema: Decodable {
    struct Feature: Decodable {
        var name: String
        var type: String?
        var presence: Double?
        var source: String?
        var domainSize: Int?
    }

    struct Anomaly: Decodable {
        var feature: String?
        var file: String?
        var kind: String?
        var count: Int?
        var exampleValue: String?
        var exampleRow: String?
    }

    var features: [Feature]?
    var anomalies: [Anomaly]?
}
