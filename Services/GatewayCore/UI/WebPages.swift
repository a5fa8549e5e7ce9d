import Foundation
import HTTPTypes
import Hummingbird
import SlipwayContracts
import SlipwayPlatform

/// The web UI's pages, rendered here from the services' APIs, acting for the logged-in user (`X-Slipway-Actor`).
/// A page needs a browser session: without one it sends the browser to `/login?next=<page>`. Each family of pages
/// is an extension in a file of its own that adds its routes in `collection`.
struct WebPages: Sendable {
    let environment: ServiceEnvironment
    let authenticator: Authenticator

    static let pageSize = 50

    var collection: RouteCollection<SlipwayRequestContext> {
        let routes = RouteCollection(context: SlipwayRequestContext.self)
        routes.get("/") { _, _ in HTML.redirect(to: "/models") }
        routes.get("/login", use: login)
        routes.get("/models", use: models)
        routes.get("/models/:name", use: model)
        routes.get("/endpoints/:name", use: endpoint)
        routes.get("/training", use: trainingRuns)
        routes.get("/training/new", use: trainingWizard)
        routes.get("/training/:id", use: trainingRun)
        routes.get("/schedules", use: schedules)
        routes.get("/schedules/:id", use: schedule)
        return routes
    }

    typealias User = (name: String, role: String, csrf: String)

    /// The session's user, or nil (the page redirects to the login).
    func user(_ request: Request) async throws -> User? {
        guard case .sessionCookie(let caller, let csrf) = try await authenticator.authenticate(request) else { return nil }
        return (caller.username, caller.role.name, csrf)
    }

    static func loginRedirect(_ request: Request) -> Response {
        HTML.redirect(to: "/login?next=" + (request.uri.description.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "/"))
    }

    /// Where a login may send the browser: a path of this site only (never `//elsewhere` or `https://…`).
    static func safeNext(_ next: String?) -> String {
        guard let next, next.hasPrefix("/"), !next.hasPrefix("//"), !next.contains("\\") else { return "/models" }
        return next
    }

    @Sendable func login(_ request: Request, context: SlipwayRequestContext) async throws -> Response {
        let next = Self.safeNext(request.uri.queryParameters.get("next"))
        if try await user(request) != nil { return HTML.redirect(to: next) }
        let main = """
            <form class="login" id="login" data-next="\(HTML.escape(next))">
              <h1>Log in to Slipway</h1>
              <label>Username <input name="username" autocomplete="username" required autofocus></label>
              <label>Password <input name="password" type="password" autocomplete="current-password" required></label>
              <button type="submit">Log in</button>
              <p class="error" id="login-error" role="alert" hidden></p>
              <p class="muted">No password yet? An admin sets one: <code>slipway users set-password &lt;username&gt;</code>.</p>
            </form>
            <script>
            "use strict";
            document.getElementById("login").addEventListener("submit", async event => {
              event.preventDefault();
              const form = event.target;
              const answer = await fetch("/api/session", { method: "POST", headers: { "Content-Type": "application/json" },
                body: JSON.stringify({ username: form.username.value, password: form.password.value }) });
              if (answer.ok) { location.href = form.dataset.next; return; }
              const problem = document.getElementById("login-error");
              problem.textContent = ((await answer.json().catch(() => ({}))).error || {}).message || "Login failed (" + answer.status + ")";
              problem.hidden = false;
            });
            </script>
            """
        return HTML.page(HTML.layout(title: "Log in", user: nil, main: main))
    }

    /// The registry: the KPI row, filters, and the models a page at a time, newest first (the registry pages them).
    @Sendable func models(_ request: Request, context: SlipwayRequestContext) async throws -> Response {
        guard let user = try await user(request) else { return Self.loginRedirect(request) }
        let query = request.uri.queryParameters
        let filters = ModelFilters(
            modelType: query.get("model_type") ?? "", status: query.get("status") ?? "", search: query.get("search") ?? "",
            hasSchedule: query.get("has_schedule") ?? "")
        var main = "<h1>Models</h1>"
        // The registry skips at most a million models.
        let page: Int
        switch Self.pageNumber(query.get("page"), last: 1_000_000 / Self.pageSize) {
        case .success(let number): page = number
        case .failure(let problem):
            main += filters.form + problem.html
            return HTML.page(HTML.layout(title: "Models", user: user, current: "models", main: main), status: problem.status)
        }
        let list: ModelList
        let window = "limit=\(Self.pageSize)&offset=\((page - 1) * Self.pageSize)"
        let apiQuery = filters.apiQuery.isEmpty ? "?" + window : filters.apiQuery + "&" + window
        switch try await read(ModelList.self, from: "registry", "/api/registered-models" + apiQuery, for: user) {
        case .success(let answer): list = answer
        case .failure(let problem):
            main += filters.form + problem.html
            return HTML.page(HTML.layout(title: "Models", user: user, current: "models", main: main), status: problem.status)
        }
        main += Self.kpis(list.kpi) + filters.form
        let pages = max(1, (list.totalMatching + Self.pageSize - 1) / Self.pageSize)
        if list.registeredModels.isEmpty {
            main +=
                list.totalMatching > 0
                ? #"<p class="muted">Page \#(page) is past the last one (\#(pages)).</p>"# + filters.pager(page: pages + 1, pages: pages)
                : #"<p class="muted">No models\#(filters.isEmpty ? " yet: train one with <code>slipway train --demo</code>" : " match these filters").</p>"#
        } else {
            main += Self.table(list.registeredModels)
            if pages > 1 { main += filters.pager(page: page, pages: pages) }
        }
        return HTML.page(HTML.layout(title: "Models", user: user, current: "models", live: ["registry"], main: main))
    }

    /// A list's `?page=`: 1 when absent; a 400 naming it when it is not a whole number from 1 to `last`.
    static func pageNumber(_ text: String?, last: Int) -> Result<Int, PageProblem> {
        guard let text else { return .success(1) }
        guard let page = Int(text), (1...last).contains(page) else {
            return .failure(PageProblem(message: "page must be a whole number from 1 to \(last)", status: .badRequest))
        }
        return .success(page)
    }

    /// What a page could not read from a service: said on the page, with the status the page answers with.
    struct PageProblem: Error {
        var message: String
        var status: HTTPResponse.Status

        var html: String { #"<p class="error" role="alert">\#(HTML.escape(message))</p>"# }
    }

    /// A service's answer to a GET, decoded, acting for the user; or what went wrong, for the page to say. A peer's
    /// 4xx is the page's own (an unknown model is a 404 page); anything else is a 502, an unreachable peer a 503.
    func read<Answer: Decodable>(_ type: Answer.Type, from service: String, _ path: String, for user: User) async throws
        -> Result<Answer, PageProblem>
    {
        let answer: PeerAnswer
        do {
            answer = try await environment.callPeer(service, .GET, path, actor: user.name)
        } catch let unreachable as PeerUnreachable {
            return .failure(PageProblem(message: "\(service)-svc is not answering: \(unreachable.description)", status: .serviceUnavailable))
        }
        guard answer.isSuccess else {
            let message = ((answer.json["error"] as? [String: Any])?["message"] as? String) ?? "status \(answer.status)"
            let status = (400..<500).contains(answer.status) ? HTTPResponse.Status(code: Int(answer.status)) : .badGateway
            return .failure(PageProblem(message: "\(service)-svc refused: \(message)", status: status))
        }
        do {
            return .success(try PlatformJSON.decoder.decode(Answer.self, from: Data(answer.body)))
        } catch {
            return .failure(PageProblem(message: "\(service)-svc answered what this page cannot read: \(error)", status: .badGateway))
        }
    }

    static func kpis(_ kpi: ModelList.KPI) -> String {
        let cards = [
            ("Models", kpi.total), ("Registered", kpi.registered), ("Blessed", kpi.blessed), ("Deployed", kpi.deployed), ("Idle", kpi.idle),
            ("With a schedule", kpi.withSchedule),
        ]
        return HTML.kpis("Registry figures", cards.map { ($0.0, "\($0.1)") })
    }

    static func table(_ models: [ModelList.Model]) -> String {
        var rows = ""
        for model in models {
            let latest =
                model.latestVersion.map { version -> String in
                    let metric = version.metrics["recall_at_100"].map { String(format: " · Recall@100 %.3f", $0) } ?? ""
                    return "v\(version.version)\(metric)"
                } ?? #"<span class="muted">none</span>"#
            rows += """
                <tr><td><a href="/models/\(Self.pathSegment(model.modelName))"><strong>\(HTML.escape(model.modelName))</strong></a><div class="muted">\(HTML.escape(model.description))</div></td>
                <td>\(HTML.escape(model.modelType))</td><td>\(model.totalVersions)</td><td>\(latest)</td>
                <td><span class="badge \(HTML.escape(model.status))">\(HTML.escape(model.status.replacingOccurrences(of: "_", with: " ")))</span></td>
                <td>\(model.deployedVersion.map { "v\($0)" } ?? #"<span class="muted">—</span>"#)</td>
                <td>\(model.hasSchedule ? HTML.escape(model.scheduleStatus ?? "yes") : #"<span class="muted">—</span>"#)</td>
                <td><time datetime="\(model.updatedAt.ISO8601Format())">\(Self.day(model.updatedAt))</time></td></tr>
                """
        }
        return """
            <div class="table"><table>
            <thead><tr><th scope="col">Model</th><th scope="col">Type</th><th scope="col">Versions</th><th scope="col">Latest</th>
            <th scope="col">Status</th><th scope="col">Deployed</th><th scope="col">Schedule</th><th scope="col">Updated</th></tr></thead>
            <tbody>\(rows)</tbody></table></div>
            """
    }

    /// `text` as one segment of a URL path (a name or id in a link, or in the path of a call to a service): only
    /// ASCII letters, digits and `-._~` are left as they are.
    static func pathSegment(_ text: String) -> String {
        text.addingPercentEncoding(
            withAllowedCharacters: CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~"))
            ?? text
    }

    /// A status as a badge: its class for the colour, its words for the text.
    static func badge(_ status: String) -> String {
        #"<span class="badge \#(HTML.escape(status))">\#(HTML.escape(status.replacingOccurrences(of: "_", with: " ")))</span>"#
    }

    static func day(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle().year().month().day().dateSeparator(.dash).time(includingFractionalSeconds: false))
            .replacingOccurrences(of: "T", with: " ").replacingOccurrences(of: "Z", with: " UTC")
    }
}

/// The registry list's filters, as the page's form and as registry-svc's query.
struct ModelFilters {
    var modelType: String
    var status: String
    var search: String
    var hasSchedule: String

    var isEmpty: Bool { modelType.isEmpty && status.isEmpty && search.isEmpty && hasSchedule.isEmpty }

    var items: [(String, String)] {
        [("model_type", modelType), ("status", status), ("search", search), ("has_schedule", hasSchedule)].filter { !$0.1.isEmpty }
    }

    var apiQuery: String {
        var components = URLComponents()
        components.queryItems = items.map { URLQueryItem(name: $0.0, value: $0.1) }
        return items.isEmpty ? "" : "?" + (components.percentEncodedQuery ?? "")
    }

    var form: String {
        return """
            <form class="filters" method="get" action="/models" role="search">
            \(HTML.select("model_type", "Type", [("", "All"), ("retrieval", "Retrieval"), ("ranking", "Ranking"), ("multitask", "Multitask")], modelType))
            \(HTML.select("status", "Status", [("", "All"), ("blessed", "Blessed"), ("deployed", "Deployed"), ("idle", "Idle"), ("pending", "Pending"), ("not_blessed", "Not blessed")], status))
            \(HTML.select("has_schedule", "Schedule", [("", "All"), ("true", "With a schedule"), ("false", "Without")], hasSchedule))
            <label>Search <input type="search" name="search" value="\(HTML.escape(search))"></label>
            <button type="submit">Filter</button>
            </form>
            """
    }

    func pager(page: Int, pages: Int) -> String { HTML.pager(path: "/models", query: items, page: page, pages: pages) }
}

/// What the models page reads of registry-svc's list (`GET /api/registered-models`).
struct ModelList: Decodable {
    struct KPI: Decodable {
        var total: Int
        var registered: Int
        var blessed: Int
        var deployed: Int
        var idle: Int
        var withSchedule: Int
    }

    struct Version: Decodable {
        var version: Int
        var metrics: [String: Double]
    }

    struct Model: Decodable {
        var modelName: String
        var modelType: String
        var description: String
        var status: String
        var totalVersions: Int
        var latestVersion: Version?
        var hasSchedule: Bool
        var scheduleStatus: String?
        var deployedVersion: Int?
        var updatedAt: Date
    }

    var registeredModels: [Model]
    var totalMatching: Int
    var kpi: KPI
}
