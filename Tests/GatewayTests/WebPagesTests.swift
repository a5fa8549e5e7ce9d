import Foundation
import HTTPTypes
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
}
