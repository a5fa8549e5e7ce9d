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

    /// A row of figures (`label` names the row for a screen reader): each a value over its title. Values are HTML the
    /// caller made safe (numbers, or escaped text).
    static func kpis(_ label: String, _ figures: [(title: String, value: String)]) -> String {
        #"<section class="kpis" aria-label="\#(escape(label))">"#
            + figures.map { #"<div class="kpi"><strong>\#($0.value)</strong><span>\#($0.title)</span></div>"# }.joined() + "</section>"
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
    /// CSRF token from the page's meta tag). `live` names the event contexts whose events refresh the page's content
    /// as they happen (see `script`).
    static func layout(
        title: String, user: (name: String, role: String, csrf: String)?, current: String = "", live: [String] = [], main: String
    ) -> String {
        let nav =
            user.map { user in
                """
                <nav aria-label="Main">
                  <a href="/models"\(current == "models" ? #" aria-current="page""# : "")>Models</a>
                  <a href="/training"\(current == "training" ? #" aria-current="page""# : "")>Training</a>
                  <a href="/schedules"\(current == "schedules" ? #" aria-current="page""# : "")>Schedules</a>
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
            <main\(live.isEmpty ? "" : #" data-live="\#(escape(live.joined(separator: ",")))""#)>\(main)</main>
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
        .badge.healthy, .badge.ok, .badge.passed, .badge.resolved, .badge.positive, .badge.none { color: var(--ok); }
        .badge.degraded, .badge.warning, .badge.acknowledged, .badge.low, .badge.medium { color: var(--warn); }
        .badge.critical, .badge.error, .badge.high, .badge.negative, .badge.flagged, .alerts .badge.active { color: var(--bad); }
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
        .crumbs { margin: 0; color: var(--muted); }
        .tabs { display: flex; flex-wrap: wrap; gap: .2rem; border-bottom: 1px solid var(--line); margin-bottom: 1rem; }
        .tabs a { padding: .4rem .8rem; text-decoration: none; color: var(--fg); border-bottom: 2px solid transparent; }
        .tabs a[aria-current] { border-bottom-color: var(--accent); font-weight: 600; }
        .health { display: grid; grid-template-columns: minmax(9rem, max-content) minmax(0, 1fr); gap: 1rem; align-items: start; }
        @media (max-width: 40rem) { .health { grid-template-columns: minmax(0, 1fr); } }
        .row-actions { display: flex; flex-wrap: wrap; gap: .4rem; }
        form[aria-busy] button[type=submit]::after { content: " …"; }
        .forms { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(100%, 26rem), 1fr)); gap: 1rem; }
        .report { border: 1px solid var(--line); border-radius: 8px; padding: .2rem 1rem 1rem; margin-bottom: 1rem; }
        .checks { list-style: none; padding: 0; display: grid; gap: .3rem; }
        a.button { display: inline-block; background: var(--accent); color: #fff; border-radius: 6px; padding: .35rem .8rem; text-decoration: none; }
        form.wizard { display: grid; gap: 1rem; max-width: 48rem; }
        form.wizard fieldset { border: 1px solid var(--line); border-radius: 8px; display: grid; gap: .6rem; padding: .6rem 1rem 1rem;
                               min-width: 0; }
        form.wizard select, form.wizard input:not([type=checkbox]) { max-width: 100%; min-width: 0; }
        form.wizard legend { font-weight: 600; }
        form.wizard label { display: grid; gap: .2rem; font-size: .9rem; }
        form.wizard label.check { display: flex; gap: .4rem; align-items: center; }
        form.wizard button { justify-self: start; }
        .badge.better { color: var(--ok); } .badge.worse { color: var(--bad); }
        .production h3, .candidate h3 { margin: .6rem 0; }
        .links { display: flex; flex-wrap: wrap; gap: 1rem; }
        dialog { border: 1px solid var(--line); border-radius: 10px; background: var(--bg); color: var(--fg); max-width: min(44rem, 95vw); }
        dialog::backdrop { background: rgb(0 0 0 / .45); }
        dialog form { display: grid; gap: .7rem; }
        dialog fieldset { border: 1px solid var(--line); border-radius: 8px; display: grid; gap: .3rem; }
        dialog label { display: grid; gap: .2rem; }
        dialog label.check { display: flex; gap: .4rem; align-items: center; }
        .timeline { list-style: none; padding: 0; margin: 0; display: grid; gap: .5rem; }
        .event { border-left: 3px solid var(--line); padding: .2rem .7rem; overflow-wrap: anywhere; }
        .event time { color: var(--muted); font-size: .85rem; margin-right: .4rem; }
        .event details summary { cursor: pointer; color: var(--muted); font-size: .85rem; }
        .facts-line { font-size: .9rem; }
        .badge.context { color: var(--accent); }
        dl.props { display: grid; grid-template-columns: max-content 1fr; gap: .3rem 1rem; }
        dl.props dt { color: var(--muted); } dl.props dd { margin: 0; overflow-wrap: anywhere; }
        .card { border: 1px solid var(--line); border-radius: 8px; padding: .2rem 1rem .6rem; margin-bottom: .8rem; }
        ul.plain { list-style: none; padding: 0; } ul.plain li, code { overflow-wrap: anywhere; }
        ol.lineage { display: flex; flex-wrap: wrap; gap: .4rem; list-style: none; padding: 0; }
        ol.lineage li:not(:last-child)::after { content: " →"; color: var(--muted); }
        .delta { font-size: .8rem; } .delta.better { color: var(--ok); } .delta.worse { color: var(--bad); }
        .activity { display: flex; gap: 3px; overflow-x: auto; padding: .2rem 0; }
        .week { display: grid; grid-template-rows: repeat(7, 12px); gap: 3px; }
        .day { display: inline-block; width: 12px; height: 12px; border-radius: 2px; background: var(--panel); border: 1px solid var(--line); }
        .day.started { background: var(--ok); border-color: var(--ok); } .day.skipped { background: var(--bad); border-color: var(--bad); }
        .day.mixed { background: var(--warn); border-color: var(--warn); } .day.future { opacity: .35; }
        .activity-legend { color: var(--muted); font-size: .85rem; display: flex; flex-wrap: wrap; gap: .4rem; align-items: center; }
        form.action { display: flex; flex-wrap: wrap; gap: .6rem; align-items: end; border: 1px solid var(--line); border-radius: 8px;
                      padding: .2rem 1rem .8rem; margin: 1rem 0; }
        form.action h2, form.action h3 { flex-basis: 100%; margin: 0; }
        form.action label { display: grid; gap: .2rem; font-size: .85rem; color: var(--muted); }
        form.action label.check { display: flex; align-items: center; gap: .35rem; align-self: center; }
        .split { display: flex; border-radius: 6px; overflow: hidden; border: 1px solid var(--line); margin-bottom: .8rem; }
        .split span { padding: .35rem .6rem; background: var(--panel); border-right: 1px solid var(--line); white-space: nowrap; overflow: hidden; }
        .split span:first-child { background: var(--accent); color: #fff; }
        ol.steps { display: flex; flex-wrap: wrap; gap: .4rem; list-style: none; padding: 0; }
        .step { border: 1px solid var(--line); border-radius: 999px; padding: .1rem .7rem; }
        .step.done { background: var(--ok); border-color: var(--ok); color: #fff; } .step.current { border-color: var(--accent); font-weight: 600; }
        pre { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: .6rem; overflow-x: auto; }
        textarea { font: 13px/1.4 ui-monospace, monospace; width: 100%; color: var(--fg); background: var(--bg); border: 1px solid var(--line);
                   border-radius: 6px; padding: .5rem; }
        #playground label { display: grid; gap: .3rem; }
        """

    /// The logout button; every `<form data-api="/api/…">`: its fields sent as a JSON body (numbers as numbers,
    /// checkboxes as booleans, the checked radio button of a group, empty fields left out, `a.b` nested) with the session's CSRF token; `data-method`
    /// (default POST), `data-confirm` asks first; a refusal's message is shown in `#action-error`, a success reloads
    /// the page, or with `data-show="field"` shows that field of the answer in `#action-result`, or with
    /// `data-redirect="/training/{training_run.id}"` opens the page the answer names. Copy buttons.
    /// A form is `aria-busy` with its button disabled until the answer; a refusal goes to the form's own `.form-error`
    /// when it has one (a form in a dialog). `button[data-open="id"]` opens a `<dialog>`, `button[data-close]` closes it.
    /// A `<fieldset data-when="name=value">` is enabled (and sent) only while its form's radio `name` has `value` checked.
    /// And live pages: `<main data-live="deploy,registry">` reads the gateway's event stream of those contexts and,
    /// when events arrive, fetches the page again and swaps its content in (at most once a second, and not while
    /// the user is in one of its forms); content with a `data-poll="seconds"` element is fetched again that often
    /// (every second without a value). The stream is read with `fetch`, not `EventSource`: its events are named by
    /// type, and `EventSource` has no listener for every name.
    static let script = """
        "use strict";
        const csrf = document.querySelector('meta[name="csrf-token"]').content;
        const logout = document.getElementById("logout");
        if (logout) logout.addEventListener("click", async () => {
          await fetch("/api/session", { method: "DELETE", headers: { "X-CSRF-Token": csrf } });
          location.href = "/login";
        });
        // Fields that belong to one choice of a radio group (a gradual rollout's step settings) count only with it.
        const applyWhen = form => {
          for (const fieldset of form.querySelectorAll("fieldset[data-when]")) {
            const [name, value] = fieldset.dataset.when.split("=");
            const chosen = form.querySelector(`input[type=radio][name="${name}"]:checked`);
            fieldset.disabled = !chosen || chosen.value !== value;
          }
        };
        document.querySelectorAll("form").forEach(applyWhen);
        document.addEventListener("change", event => {
          const form = event.target.closest("form");
          if (form && event.target.type === "radio") applyWhen(form);
        });
        const live = document.querySelector("main[data-live]");
        if (live) {
          let stale = false, refreshing = false;
          const loaded = Date.now();
          const refresh = async () => {
            // Content that changes without events asks to be read again every `data-poll` seconds (default 1): a running
            // load test's seconds, serving figures.
            const poll = live.querySelector("[data-poll]");
            if (poll && Date.now() - Number(live.dataset.refreshed || loaded) >= 1000 * (Number(poll.dataset.poll) || 1)) stale = true;
            if (!stale || refreshing) return;
            // Not under the user's hands: a form being filled in, or an open dialog (a swap would close it). Asked
            // again once the page is read, since the user may have opened one meanwhile; it is read again later.
            const busy = () => (live.contains(document.activeElement) && document.activeElement.closest("form")) || live.querySelector("dialog[open]");
            if (busy()) return;
            stale = false; refreshing = true;
            try {
              const answer = await fetch(location.href, { headers: { Accept: "text/html" } });
              const fresh = new DOMParser().parseFromString(await answer.text(), "text/html").querySelector("main");
              if (fresh && busy()) {
                stale = true;
              } else if (fresh) {
                // A refusal being shown stays shown.
                const refusal = live.querySelector("#action-error:not([hidden])");
                live.innerHTML = fresh.innerHTML;
                live.dataset.refreshed = String(Date.now());
                const slot = live.querySelector("#action-error");
                if (refusal && slot) { slot.textContent = refusal.textContent; slot.hidden = false; }
                live.querySelectorAll("form").forEach(applyWhen);
              }
            } finally { refreshing = false; }
          };
          setInterval(refresh, 1000);
          // Leaving the page ends the stream here and now: left to the navigation, Chromium kept the socket open, and a
          // few pages later its six sockets for the host were used up and every request waited.
          const leaving = new AbortController();
          window.addEventListener("pagehide", () => leaving.abort());
          const follow = async () => {
            while (!leaving.signal.aborted) {
              try {
                const answer = await fetch("/api/events/stream?context=" + encodeURIComponent(live.dataset.live), { signal: leaving.signal });
                const reader = answer.body.getReader();
                for (;;) {
                  const { done, value } = await reader.read();
                  if (done) break;
                  // A frame with data is an event; comments (connected, heartbeat) carry none.
                  if (new TextDecoder().decode(value).includes("data:")) stale = true;
                }
              } catch (error) {}
              await new Promise(resume => setTimeout(resume, 3000));
            }
          };
          follow();
        }
        document.addEventListener("submit", async event => {
          const form = event.target.closest("form[data-api]");
          if (!form) return;
          event.preventDefault();
          if (form.dataset.confirm && !confirm(form.dataset.confirm)) return;
          const body = {};
          for (const field of form.elements) {
            if (!field.name || field.disabled || (field.type === "radio" && !field.checked)) continue;
            const value = field.type === "checkbox" ? field.checked : field.type === "number" ? Number(field.value) : field.value;
            if (field.type !== "checkbox" && field.value === "") continue;
            // "traffic.v1" is body.traffic.v1.
            const path = field.name.split(".");
            let into = body;
            for (const key of path.slice(0, -1)) into = into[key] = into[key] || {};
            into[path[path.length - 1]] = value;
          }
          // A form's own slot for a refusal (one in a dialog), else the page's.
          const problem = form.querySelector(".form-error") || document.getElementById("action-error");
          if (problem) problem.hidden = true;
          // Some actions take seconds (an endpoint test runs before its answer): the form says it is working.
          const button = form.querySelector("button[type=submit]");
          form.setAttribute("aria-busy", "true");
          if (button) button.disabled = true;
          const answer = await fetch(form.dataset.api, { method: form.dataset.method || "POST",
            headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf }, body: JSON.stringify(body) })
            .finally(() => { form.removeAttribute("aria-busy"); if (button) button.disabled = false; });
          const json = await answer.json().catch(() => ({}));
          if (answer.ok && form.dataset.show) {
            // An answer to show once (a new API key), in #action-result, instead of reloading it away.
            const result = document.getElementById("action-result");
            result.querySelector("code").textContent = json[form.dataset.show];
            result.hidden = false;
            return;
          }
          if (answer.ok && form.dataset.redirect) {
            // "/training/{training_run.id}": a page the answer names (a rerun's new run).
            const target = form.dataset.redirect.replace(/\\{([a-z_.]+)\\}/g, (_, path) =>
              encodeURIComponent(path.split(".").reduce((value, key) => (value || {})[key], json) ?? ""));
            location.href = target;
            return;
          }
          if (answer.ok) { location.reload(); return; }
          const message = (json.error || {}).message || "refused (" + answer.status + ")";
          if (problem) { problem.textContent = message; problem.hidden = false; } else alert(message);
        });
        // <button data-open="id">: opens that dialog; <button data-close>: closes the dialog it is in.
        document.addEventListener("click", event => {
          const opener = event.target.closest("button[data-open]");
          if (opener) document.getElementById(opener.dataset.open).showModal();
          const closer = event.target.closest("button[data-close]");
          if (closer) closer.closest("dialog").close();
        });
        // <button data-copy="#id">: the element's text to the clipboard.
        document.addEventListener("click", async event => {
          const button = event.target.closest("button[data-copy]");
          if (!button) return;
          await navigator.clipboard.writeText(document.querySelector(button.dataset.copy).textContent);
          button.textContent = "Copied";
          setTimeout(() => { button.textContent = "Copy"; }, 1500);
        });
        """
}
