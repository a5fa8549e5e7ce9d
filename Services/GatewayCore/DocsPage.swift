import Hummingbird
import NIOCore

/// `GET /docs`: the interactive API reference. One self-contained page (markup, style and script inline) that reads
/// `/api/openapi.json` and renders it — routes by service, parameters, bodies and answers with their fields, the role
/// each needs — with a form per route to call it with the token the reader pastes (kept in the tab's session storage).
/// `/docs?api=prediction` renders the prediction API (`/api/prediction/openapi.json`) the same way, with a curl command
/// per route instead of the form: its routes are served by serving-router at each endpoint's URL, another origin.
public enum DocsPage {
    static var html: Response {
        Response(
            status: .ok, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-cache"],
            body: .init(byteBuffer: ByteBuffer(string: source)))
    }

    public static let source = #"""
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>Slipway API reference</title>
        <style>
        :root { --bg: #ffffff; --fg: #1b1f24; --muted: #5b6470; --line: #d8dde3; --panel: #f5f7f9; --accent: #0b62c4;
                --get: #1a7f37; --post: #0b62c4; --put: #8250df; --patch: #9a6700; --delete: #cf222e; }
        @media (prefers-color-scheme: dark) {
          :root { --bg: #0f1317; --fg: #e6edf3; --muted: #9aa6b2; --line: #2d333b; --panel: #161b22; --accent: #58a6ff;
                  --get: #3fb950; --post: #58a6ff; --put: #bc8cff; --patch: #d29922; --delete: #f85149; }
        }
        * { box-sizing: border-box; }
        body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; background: var(--bg); color: var(--fg); }
        header { position: sticky; top: 0; z-index: 1; background: var(--bg); border-bottom: 1px solid var(--line);
                 padding: .75rem 1rem; display: flex; flex-wrap: wrap; gap: .75rem; align-items: center; }
        header h1 { font-size: 1.1rem; margin: 0 1rem 0 0; }
        header label { display: flex; gap: .4rem; align-items: center; color: var(--muted); font-size: .9rem; }
        input, textarea, button, select { font: inherit; color: var(--fg); background: var(--bg); border: 1px solid var(--line);
                 border-radius: 6px; padding: .35rem .5rem; }
        input:focus, textarea:focus, button:focus, summary:focus { outline: 2px solid var(--accent); outline-offset: 1px; }
        button { cursor: pointer; background: var(--accent); color: #fff; border-color: var(--accent); }
        main { max-width: 1100px; margin: 0 auto; padding: 1rem; }
        h2 { font-size: 1.05rem; margin: 1.5rem 0 .5rem; text-transform: capitalize; }
        details.op { border: 1px solid var(--line); border-radius: 8px; margin: .4rem 0; background: var(--panel); }
        details.op > summary { cursor: pointer; padding: .5rem .75rem; display: flex; gap: .6rem; align-items: baseline; flex-wrap: wrap; }
        .method { font: 600 .75rem/1.6 ui-monospace, monospace; text-transform: uppercase; min-width: 4.2rem; text-align: center;
                  border-radius: 4px; color: #fff; padding: 0 .3rem; }
        .get { background: var(--get); } .post { background: var(--post); } .put { background: var(--put); }
        .patch { background: var(--patch); } .delete { background: var(--delete); }
        code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: .88rem; }
        .summary { color: var(--muted); }
        .role { margin-left: auto; font-size: .8rem; border: 1px solid var(--line); border-radius: 999px; padding: 0 .5rem; color: var(--muted); }
        .content { padding: .25rem 1rem 1rem; border-top: 1px solid var(--line); background: var(--bg); border-radius: 0 0 8px 8px; }
        table { border-collapse: collapse; width: 100%; margin: .25rem 0 .75rem; }
        th, td { text-align: left; padding: .3rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
        ul.schema { list-style: none; padding-left: 1rem; margin: .2rem 0; border-left: 1px dashed var(--line); }
        .type { color: var(--accent); font-size: .85rem; } .req { color: var(--delete); font-size: .8rem; }
        .try { display: grid; gap: .5rem; margin-top: .5rem; }
        .try label { display: grid; gap: .2rem; font-size: .9rem; }
        textarea { width: 100%; min-height: 8rem; }
        pre.result { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: .5rem; overflow: auto; max-height: 24rem; }
        .note { color: var(--muted); font-size: .9rem; }
        .warning { color: var(--delete); }
        nav.apis { display: flex; gap: .75rem; }
        nav.apis a[aria-current="page"] { font-weight: 600; color: var(--fg); text-decoration: none; }
        </style>
        </head>
        <body>
        <header>
          <h1>Slipway API</h1>
          <nav class="apis" aria-label="APIs"><a id="platform-api" href="/docs">Platform API</a>
            <a id="prediction-api" href="/docs?api=prediction">Prediction API</a></nav>
          <label>Filter <input id="filter" type="search" placeholder="path or words" aria-label="Filter routes"></label>
          <label id="token-label">Token <input id="token" type="password" autocomplete="off" placeholder="slw_…" aria-label="API token"></label>
          <a id="source" href="/api/openapi.json">openapi.json</a>
        </header>
        <main>
          <p class="note" id="intro">Every public route of every Slipway service, from the declarations they are served from. A request
          sends the token above as <code>Authorization: Bearer …</code>; it stays in this tab only.</p>
          <p id="status" class="note">Loading the reference…</p>
          <div id="routes"></div>
        </main>
        <script>
        "use strict";
        let doc = null;
        // The prediction API: served at each endpoint's URL (another origin), so each route shows a curl command.
        const prediction = new URLSearchParams(location.search).get("api") === "prediction";
        const source = prediction ? "/api/prediction/openapi.json" : "/api/openapi.json";
        document.getElementById(prediction ? "prediction-api" : "platform-api").setAttribute("aria-current", "page");
        document.getElementById("source").href = source;
        const token = document.getElementById("token");
        if (prediction) {
          document.getElementById("token-label").remove();  // an API key goes in the curl command instead
          document.getElementById("intro").replaceChildren("What every deployed endpoint answers at its URL (",
            element("code", {}, "<serving-router>/<endpoint>"), "), with an API key of the endpoint's model. ",
            "An endpoint's API tab has the same routes with examples from its model's data, and a playground.");
        }
        const tokenKey = "slipway-token";
        token.value = sessionStorage.getItem(tokenKey) || "";
        token.addEventListener("change", () => sessionStorage.setItem(tokenKey, token.value.trim()));

        function element(tag, attributes, ...children) {
          const node = document.createElement(tag);
          for (const [key, value] of Object.entries(attributes || {})) {
            if (key === "class") node.className = value; else node.setAttribute(key, value);
          }
          for (const child of children) if (child !== null && child !== undefined) node.append(child);
          return node;
        }

        function resolve(schema) {
          if (schema && schema.$ref) return doc.components.schemas[schema.$ref.split("/").pop()] || {};
          return schema || {};
        }

        function typeName(schema) {
          schema = resolve(schema);
          if (schema.anyOf) return schema.anyOf.map(typeName).join(" | ");
          const types = Array.isArray(schema.type) ? schema.type : [schema.type || "any"];
          return types.map(type => {
            if (type === "array") return typeName(schema.items) + "[]";
            if (type === "object" && schema.additionalProperties) return "map of " + typeName(schema.additionalProperties);
            if (type === "object" && schema.title) return schema.title;
            let name = type;
            if (schema.format) name += " (" + schema.format + ")";
            if (schema.enum) name += ": " + schema.enum.filter(v => v !== "").map(v => JSON.stringify(v)).join(" | ");
            return name;
          }).join(" | ");
        }

        function objectOf(schema) {
          schema = resolve(schema);
          if (schema.anyOf) return schema.anyOf.map(objectOf).find(s => s) || null;
          if (schema.properties) return schema;
          if (schema.items) return objectOf(schema.items);
          return null;
        }

        function fields(schema, depth) {
          const object = objectOf(schema);
          if (!object || depth > 6) return null;
          const required = new Set(object.required || []);
          const list = element("ul", { class: "schema" });
          for (const [name, property] of Object.entries(object.properties).sort()) {
            list.append(element("li", {}, element("code", {}, name), " ", element("span", { class: "type" }, typeName(property)),
              required.has(name) ? element("span", { class: "req" }, " required") : null,
              property.description ? element("div", { class: "note" }, property.description) : null,
              fields(property, depth + 1)));
          }
          return list;
        }

        function example(schema, depth) {
          schema = resolve(schema);
          if (depth > 6) return null;
          if (schema.anyOf) return example(schema.anyOf[0], depth);
          if (schema.default !== undefined) return schema.default;
          if (schema.enum) return schema.enum.find(v => v !== "") ?? schema.enum[0];
          const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
          switch (type) {
            case "string": return schema.format === "date-time" ? new Date().toISOString() : "";
            case "integer": return schema.minimum ?? 0;
            case "number": return schema.minimum ?? 0;
            case "boolean": return false;
            case "array": return [];
            case "object": {
              const value = {};
              for (const [name, property] of Object.entries(schema.properties || {})) {
                if ((schema.required || []).includes(name)) value[name] = example(property, depth + 1);
              }
              return value;
            }
            default: return null;
          }
        }

        function parameterRows(parameters) {
          if (!parameters.length) return null;
          const table = element("table", {}, element("tr", {}, element("th", {}, "Parameter"), element("th", {}, "In"),
            element("th", {}, "Type"), element("th", {}, "Description")));
          for (const p of parameters) {
            table.append(element("tr", {}, element("td", {}, element("code", {}, p.name), p.required ? element("span", { class: "req" }, " required") : null),
              element("td", {}, p.in), element("td", { class: "type" }, typeName(p.schema)), element("td", {}, p.description || "")));
          }
          return table;
        }

        function tryForm(path, method, operation) {
          const form = element("form", { class: "try" });
          const inputs = [];
          for (const p of operation.parameters || []) {
            const input = element("input", { name: p.name, "data-in": p.in, placeholder: typeName(p.schema) });
            if (p.required) input.required = true;
            inputs.push(input);
            form.append(element("label", {}, p.name + " (" + p.in + ")", input));
          }
          let body = null;
          const content = operation.requestBody && operation.requestBody.content && operation.requestBody.content["application/json"];
          if (content) {
            body = element("textarea", { spellcheck: "false" });
            body.value = JSON.stringify(example(content.schema, 0), null, 2);
            form.append(element("label", {}, "Body (JSON)", body));
          }
          const output = element("pre", { class: "result", "aria-live": "polite" });
          form.append(element("button", { type: "submit" }, "Send " + method.toUpperCase()), output);
          form.addEventListener("submit", async event => {
            event.preventDefault();
            let url = path;
            const query = new URLSearchParams();
            for (const input of inputs) {
              if (input.dataset.in === "path") url = url.replace("{" + input.name + "}", encodeURIComponent(input.value));
              else if (input.value !== "") query.append(input.name, input.value);
            }
            if ([...query].length) url += "?" + query;
            const headers = {};
            if (token.value.trim()) headers["Authorization"] = "Bearer " + token.value.trim();
            if (body) headers["Content-Type"] = "application/json";
            const abort = new AbortController();
            const timer = setTimeout(() => abort.abort(), 5000);
            output.textContent = method.toUpperCase() + " " + url + " …";
            try {
              const response = await fetch(url, { method: method.toUpperCase(), headers, body: body ? body.value : undefined, signal: abort.signal });
              let text = "";
              const reader = response.body ? response.body.getReader() : null;
              const decoder = new TextDecoder();
              try {
                while (reader) { const { done, value } = await reader.read(); if (done) break; text += decoder.decode(value, { stream: true }); }
              } catch (error) { text += "\n… (stopped after 5 s)"; }
              try { text = JSON.stringify(JSON.parse(text), null, 2); } catch (error) {}
              output.textContent = response.status + " " + response.statusText + "\n" + text;
            } catch (error) {
              output.textContent = "Request failed: " + error;
            } finally { clearTimeout(timer); }
          });
          return form;
        }

        /// The route as a curl command against the document's server, its variables as shell variables.
        function curlView(path, method, operation) {
          const server = (doc.servers || [{ url: "" }])[0];
          const base = server.url.replace(/\{([a-z_]+)\}/g, (_, name) => "$" + name.toUpperCase());
          const content = operation.requestBody && operation.requestBody.content && operation.requestBody.content["application/json"];
          const lines = ["curl -X " + method.toUpperCase() + " \"" + base + path.replace(/\{([a-z_]+)\}/g, (_, name) => "$" + name.toUpperCase()) + "\"",
            "  -H \"Authorization: Bearer $API_KEY\""];
          if (content) lines.push("  -H \"Content-Type: application/json\"", "  -d '" + JSON.stringify(example(content.schema, 0)) + "'");
          const variables = Object.entries(server.variables || {}).map(([name, variable]) => name.toUpperCase() + "=" + variable.default);
          return element("pre", { class: "result" }, variables.concat(["API_KEY=\"…\"  # an API key of the endpoint's model (its API keys tab)"]).join("\n") + "\n" + lines.join(" \\\n"));
        }

        function operationView(path, method, operation) {
          const summary = element("summary", {}, element("span", { class: "method " + method }, method), element("code", {}, path),
            element("span", { class: "summary" }, operation.summary || ""),
            element("span", { class: "role" }, prediction ? "API key" : operation.security && operation.security.length === 0 ? "open" : (operation["x-slipway-role"] || "")));
          const content = element("div", { class: "content" });
          if (operation.description) content.append(element("p", {}, operation.description));
          if (operation["x-slipway-undocumented"]) content.append(element("p", { class: "warning" }, "Not documented yet."));
          const parameters = parameterRows(operation.parameters || []);
          if (parameters) content.append(element("h3", {}, "Parameters"), parameters);
          const requestBody = operation.requestBody && operation.requestBody.content && operation.requestBody.content["application/json"];
          if (requestBody) {
            content.append(element("h3", {}, "Body" + (operation.requestBody.required ? "" : " (optional)")),
              element("div", { class: "type" }, typeName(requestBody.schema)), fields(requestBody.schema, 0));
          }
          content.append(element("h3", {}, "Answers"));
          for (const [status, response] of Object.entries(operation.responses || {})) {
            const resolved = response.$ref ? doc.components.responses[response.$ref.split("/").pop()] : response;
            const media = resolved.content ? Object.entries(resolved.content)[0] : null;
            content.append(element("div", {}, element("strong", {}, status), " ", resolved.description || "",
              media ? element("span", { class: "type" }, " · " + media[0] + " · " + typeName(media[1].schema)) : null,
              media && status.startsWith("2") ? fields(media[1].schema, 0) : null));
          }
          content.append(element("h3", {}, "Try it"), prediction ? curlView(path, method, operation) : tryForm(path, method, operation));
          const details = element("details", { class: "op", id: operation.operationId || "" }, summary, content);
          details.dataset.search = (method + " " + path + " " + (operation.summary || "")).toLowerCase();
          return details;
        }

        function render() {
          const container = document.getElementById("routes");
          container.replaceChildren();
          const byTag = new Map();
          for (const [path, item] of Object.entries(doc.paths).sort()) {
            for (const [method, operation] of Object.entries(item)) {
              const tag = (operation.tags || ["other"])[0];
              if (!byTag.has(tag)) byTag.set(tag, []);
              byTag.get(tag).push(operationView(path, method, operation));
            }
          }
          for (const [tag, views] of [...byTag].sort()) {
            container.append(element("section", {}, element("h2", {}, tag + " (" + views.length + ")"), ...views));
          }
          const count = [...byTag.values()].reduce((sum, views) => sum + views.length, 0);
          const missing = (doc.info["x-slipway-unavailable"] || []);
          document.getElementById("status").textContent = count + " routes." +
            (missing.length ? " Not answering now, so missing here: " + missing.join(", ") + "." : "");
        }

        document.getElementById("filter").addEventListener("input", event => {
          const words = event.target.value.toLowerCase().trim();
          for (const view of document.querySelectorAll("details.op")) view.hidden = words !== "" && !view.dataset.search.includes(words);
        });

        fetch(source).then(response => response.json()).then(loaded => { doc = loaded; render(); })
          .catch(error => { document.getElementById("status").textContent = "Could not load the reference: " + error; });
        </script>
        </body>
        </html>
        """#
}
