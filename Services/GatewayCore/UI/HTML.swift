import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// Server-rendered pages: text escaped where it is written, one layout, one style sheet and a little script inline
/// (nothing is fetched from elsewhere), a dark theme that follows the OS, and a layout that reads at phone width.
enum HTML {
    /// Text as HTML text or a quoted attribute value.
    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }

    static func page(_ html: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status,
            headers: [
                .contentType: "text/html; charset=utf-8", .cacheControl: "no-store",
                // Inline style and script are the page's own; nothing else may load or frame it.
                .contentSecurityPolicy: "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; frame-ancestors 'none'",
            ], body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    /// A labelled `<select>` of (value, text) options with `chosen` selected.
    static func select(_ name: String, _ label: String, _ options: [(String, String)], _ chosen: String) -> String {
        let choices = options.map { value, text in
            #"<option value="\#(escape(value))"\#(value == chosen ? " selected" : "")>\#(escape(text))</option>"#
        }.joined()
        return #"<label>\#(label) <select name="\#(name)">\#(choices)</select></label>"#
    }

    /// Previous / next links of a list page at `path`, keeping the list's filters (`query`).
    static func pager(path: String, query: [(String, String)], page: Int, pages: Int) -> String {
        func link(_ target: Int, _ text: String) -> String {
            var components = URLComponents()
            components.queryItems = (query + [("page", String(target))]).map { URLQueryItem(name: $0.0, value: $0.1) }
            return #"<a href="\#(path)?\#(escape(components.percentEncodedQuery ?? ""))">\#(text)</a>"#
        }
        return #"<nav class="pages" aria-label="Pages">"# + (page > 1 ? link(page - 1, "← Previous") : "")
            + #"<span>Page \#(page) of \#(pages)</span>"# + (page < pages ? link(page + 1, "Next →") : "") + "</nav>"
    }

    static func redirect(to location: String) -> Response {
        Response(status: .seeOther, headers: [.location: location, .cacheControl: "no-store"])
    }

    /// The frame of every page: the navigation, who is logged in, and the logout button (which sends the session's
    /// CSRF token from the page's meta tag).
    static func layout(title: String, user: (name: String, role: String, csrf: String)?, current: String = "", main: String) -> String {
        let nav =
            user.map { user in
                """
                <nav aria-label="Main">
                  <a href="/models"\(current == "models" ? #" aria-current="page""# : "")>Models</a>
                  <a href="/training"\(current == "training" ? #" aria-current="page""# : "")>Training</a>
                  <a href="/docs">API reference</a>
                </nav>
                <div class="who"><span>\(escape(user.name)) · \(escape(user.role))</span>
                  <button type="button" id="logout" class="secondary">Log out</button></div>
                """
            } ?? ""
        return """
            <!doctype html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <meta name="csrf-token" content="\(escape(user?.csrf ?? ""))">
            <title>\(escape(title)) · Slipway</title>
            <style>\(style)</style>
            </head>
            <body>
            <header><a class="brand" href="/models">Slipway</a>\(nav)</header>
            <main>\(main)</main>
            <script>\(script)</script>
            </body>
            </html>
            """
    }

    static let style = """
        :root { --bg: #fff; --fg: #1b1f24; --muted: #5b6470; --line: #d8dde3; --panel: #f5f7f9; --accent: #0b62c4;
                --ok: #1a7f37; --warn: #9a6700; --bad: #cf222e;
                --series-0: #0b62c4; --series-1: #d4561e; --series-2: #1a7f37; --series-3: #8250df; --series-4: #bf3989; --series-5: #6e7781; }
        @media (prefers-color-scheme: dark) {
          :root { --bg: #0f1317; --fg: #e6edf3; --muted: #9aa6b2; --line: #2d333b; --panel: #161b22; --accent: #58a6ff;
                  --ok: #3fb950; --warn: #d29922; --bad: #f85149;
                  --series-0: #58a6ff; --series-1: #f0883e; --series-2: #3fb950; --series-3: #bc8cff; --series-4: #f778ba; --series-5: #9aa6b2; }
        }
        * { box-sizing: border-box; }
        body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; background: var(--bg); color: var(--fg); }
        header { display: flex; flex-wrap: wrap; gap: 1rem; align-items: center; padding: .6rem 1rem; border-bottom: 1px solid var(--line); }
        header nav { display: flex; flex-wrap: wrap; gap: 1rem; }
        header a { color: var(--fg); text-decoration: none; }
        header a[aria-current] { font-weight: 600; border-bottom: 2px solid var(--accent); }
        .brand { font-weight: 700; }
        .who { margin-left: auto; display: flex; gap: .6rem; align-items: center; color: var(--muted); }
        main { max-width: 1200px; margin: 0 auto; padding: 1rem; }
        h1 { font-size: 1.3rem; margin: .5rem 0 1rem; }
        h2 { font-size: 1.1rem; margin: 1.4rem 0 .6rem; }
        h3 { font-size: 1rem; margin: 1rem 0 .4rem; }
        a { color: var(--accent); }
        input, select, button { font: inherit; color: var(--fg); background: var(--bg); border: 1px solid var(--line);
                 border-radius: 6px; padding: .35rem .6rem; }
        input:focus, select:focus, button:focus, a:focus { outline: 2px solid var(--accent); outline-offset: 1px; }
        button { cursor: pointer; background: var(--accent); border-color: var(--accent); color: #fff; }
        button.secondary { background: transparent; color: var(--fg); border-color: var(--line); }
        button:disabled { opacity: .6; cursor: default; }
        .visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip-path: inset(50%); white-space: nowrap; }
        .kpis { display: grid; grid-template-columns: repeat(auto-fit, minmax(8rem, 1fr)); gap: .6rem; margin-bottom: 1rem; }
        .kpi { border: 1px solid var(--line); border-radius: 8px; padding: .6rem .8rem; background: var(--panel); }
        .kpi strong { display: block; font-size: 1.4rem; }
        .kpi span { color: var(--muted); font-size: .85rem; }
        form.filters { display: flex; flex-wrap: wrap; gap: .6rem; align-items: end; margin-bottom: 1rem; }
        form.filters label { display: grid; gap: .2rem; font-size: .85rem; color: var(--muted); }
        .table { overflow-x: auto; }
        table { border-collapse: collapse; width: 100%; }
        th, td { text-align: left; padding: .45rem .6rem; border-bottom: 1px solid var(--line); white-space: nowrap; }
        th { font-size: .85rem; color: var(--muted); font-weight: 600; }
        .badge { border-radius: 999px; padding: .05rem .55rem; font-size: .8rem; border: 1px solid currentColor; }
        .badge.deployed { color: var(--ok); } .badge.idle { color: var(--accent); }
        .badge.pending { color: var(--warn); } .badge.not_blessed { color: var(--bad); }
        .badge.completed { color: var(--ok); } .badge.running, .badge.submitting, .badge.deploying { color: var(--accent); }
        .badge.failed, .badge.deploy_failed { color: var(--bad); } .badge.scheduled, .badge.cancelled, .badge.skipped { color: var(--muted); }
        .muted { color: var(--muted); }
        .error { color: var(--bad); border: 1px solid var(--bad); border-radius: 8px; padding: .6rem .8rem; }
        .pages { display: flex; gap: 1rem; margin-top: 1rem; }
        td.wrap { white-space: normal; min-width: 12rem; }
        .run-cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(min(100%, 22rem), 1fr)); gap: .8rem; }
        .run-card { display: grid; gap: .45rem; min-width: 0; border: 1px solid var(--line); border-radius: 8px; padding: .7rem .9rem;
                    background: var(--panel); }
        .run-card h2 { font-size: 1.05rem; margin: 0; overflow-wrap: anywhere; }
        .run-card p { margin: 0; }
        .run-title { display: flex; flex-wrap: wrap; gap: .6rem; align-items: center; }
        .run-title h1 { margin: .5rem 0; overflow-wrap: anywhere; }
        .run-error { color: var(--bad); overflow-wrap: anywhere; }
        .facts { display: flex; flex-wrap: wrap; gap: .2rem 1.4rem; margin: 0; }
        .facts dt { font-size: .8rem; color: var(--muted); }
        .facts dd { margin: 0; font-weight: 600; }
        .segments { display: grid; grid-auto-flow: column; grid-auto-columns: 1fr; gap: 3px; list-style: none; margin: 0; padding: 0; }
        .segment { height: 1.2rem; border-radius: 3px; font-size: .7rem; line-height: 1.2rem; text-align: center; color: var(--muted);
                   border: 1px solid var(--line); }
        .segment.completed, .mark.completed { background: var(--ok); border-color: var(--ok); color: #fff; }
        .segment.running, .mark.running { background: var(--accent); border-color: var(--accent); color: #fff; }
        .segment.failed, .mark.failed { background: var(--bad); border-color: var(--bad); color: #fff; }
        .segment.cancelled, .mark.cancelled { background: var(--warn); border-color: var(--warn); color: #fff; }
        .segment.skipped { background: var(--line); }
        .actions { display: flex; flex-wrap: wrap; gap: .6rem; align-items: center; margin: .5rem 0 1rem; }
        .actions .error { flex-basis: 100%; margin: 0; }
        .stage-list { list-style: none; padding: 0; margin: 0; display: grid; gap: .5rem; }
        .stage { border: 1px solid var(--line); border-radius: 8px; padding: .5rem .7rem; min-width: 0; }
        .stage-head { display: flex; flex-wrap: wrap; gap: .5rem; align-items: center; }
        .mark { display: inline-grid; place-items: center; width: 1.3rem; height: 1.3rem; border-radius: 50%; font-size: .75rem;
                border: 1px solid var(--line); color: var(--muted); }
        .stage-details { display: flex; flex-wrap: wrap; gap: .2rem 1.2rem; margin: .4rem 0 0; font-size: .85rem; }
        .stage-details dt { display: inline; color: var(--muted); }
        .stage-details dd { display: inline; margin: 0 0 0 .3rem; }
        .artifacts { margin: .3rem 0 0; padding-left: 1.2rem; font-size: .85rem; overflow-wrap: anywhere; }
        .charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(100%, 28rem), 1fr)); gap: 1rem; }
        .chart { margin: 0; min-width: 0; border: 1px solid var(--line); border-radius: 8px; padding: .5rem .6rem; }
        .chart figcaption { font-weight: 600; font-size: .9rem; }
        .chart svg { display: block; width: 100%; height: auto; overflow: visible; }
        .chart text { fill: var(--muted); font-size: 11px; }
        @media (max-width: 40rem) { .chart text { font-size: 18px; } }
        .chart text.empty { font-size: 14px; }
        .chart .grid { stroke: var(--line); }
        .chart .axis { stroke: var(--muted); }
        .chart .line { fill: none; stroke: var(--series); stroke-width: 2; stroke-linejoin: round; }
        .chart .dot { fill: var(--series); }
        .s0 { --series: var(--series-0); } .s1 { --series: var(--series-1); } .s2 { --series: var(--series-2); }
        .s3 { --series: var(--series-3); } .s4 { --series: var(--series-4); } .s5 { --series: var(--series-5); }
        .legend { list-style: none; display: flex; flex-wrap: wrap; gap: .2rem 1rem; padding: 0; margin: .3rem 0 0; font-size: .85rem; }
        .swatch { display: inline-block; width: .9rem; height: .3rem; border-radius: 2px; margin-right: .35rem; vertical-align: middle;
                  background: var(--series); }
        .histogram { fill: var(--accent); vertical-align: middle; }
        pre.log, pre.config { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: .6rem; max-height: 24rem;
                              overflow: auto; white-space: pre-wrap; overflow-wrap: anywhere; font-size: .82rem; }
        .login { max-width: 22rem; margin: 4rem auto; display: grid; gap: .8rem; }
        .login label { display: grid; gap: .25rem; }
        """

    static let script = """
        "use strict";
        const logout = document.getElementById("logout");
        if (logout) logout.addEventListener("click", async () => {
          const csrf = document.querySelector('meta[name="csrf-token"]').content;
          await fetch("/api/session", { method: "DELETE", headers: { "X-CSRF-Token": csrf } });
          location.href = "/login";
        });
        """
}
