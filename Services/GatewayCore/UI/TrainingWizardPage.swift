import Foundation
import HTTPTypes
import Hummingbird
import SlipwayPlatform

/// The training wizard (`/training/new`, editors): the model's name, then its dataset, features, model configuration,
/// training parameters, when to train (now, or on a schedule — with the first run now or not) and what to do with a
/// blessed version (deploy it to an endpoint). One `POST /api/training-runs` with the wizard's `schedule_config`:
/// training-svc checks everything (schedule-svc the timing) before anything is written, and the page opens the new run.
extension WebPages {
    @Sendable func trainingWizard(_ request: Request, context: SlipwayRequestContext) async throws -> Response {
        guard let user = try await user(request) else { return Self.loginRedirect(request) }
        var main = #"<p class="crumbs"><a href="/training">Training</a> /</p><h1>New training run</h1>"#
        func page(_ status: HTTPResponse.Status = .ok) -> Response {
            HTML.page(HTML.layout(title: "New training run", user: user, current: "training", main: main), status: status)
        }
        guard user.role != "viewer" else {
            main += PageProblem(message: "starting a training run needs the editor role; you are a viewer", status: .forbidden).html
            return page(.forbidden)
        }
        async let datasets = read(CatalogList.self, from: "training", "/api/datasets", for: user)
        async let features = read(CatalogList.self, from: "training", "/api/feature-configs", for: user)
        async let models = read(CatalogList.self, from: "training", "/api/model-configs", for: user)
        var catalog: [CatalogList] = []
        for answer in [try await datasets, try await features, try await models] {
            switch answer {
            case .success(let list): catalog.append(list)
            case .failure(let problem):
                main += problem.html
                return page(problem.status)
            }
        }
        main += Self.wizard(
            datasets: catalog[0].items, features: catalog[1].items, models: catalog[2].items, model: request.uri.queryParameters.get("model"))
        return page()
    }

    static func wizard(datasets: [CatalogList.Item], features: [CatalogList.Item], models: [CatalogList.Item], model: String?) -> String {
        guard !datasets.isEmpty, !features.isEmpty, !models.isEmpty else {
            return #"""
                <p class="muted">A run needs a dataset, a feature configuration and a model configuration; make them with the API
                (<code>POST /api/datasets</code>, <code>/api/feature-configs</code>, <code>/api/model-configs</code>) or all three at once with
                <code>slipway train --demo</code>.</p>
                """#
        }
        func choices(_ items: [CatalogList.Item]) -> [(String, String)] {
            items.map { ($0.id, $0.description.isEmpty ? $0.name : "\($0.name) — \($0.description)") }
        }
        let kinds = [("now", "Now, once"), ("hourly", "Hourly"), ("daily", "Daily"), ("weekly", "Weekly"), ("monthly", "Monthly")]
        let presets = [("development", "Development"), ("production", "Production"), ("high_traffic", "High traffic")]
        return """
            <form class="wizard" data-api="/api/training-runs" data-redirect="/training/{training_run.id}">
            <fieldset><legend>1 · Model</legend>
            <label>Registered model name <input name="name" required pattern="[a-z0-9][a-z0-9-]{0,62}" value="\(HTML.escape(model ?? ""))" placeholder="b2b-retrieval"></label>
            <label>Description <input name="description" maxlength="500"></label>
            </fieldset>
            <fieldset><legend>2 · Data and features</legend>
            \(HTML.select("dataset_id", "Dataset", choices(datasets), datasets[0].id))
            \(HTML.select("feature_config_id", "Features", choices(features), features[0].id))
            </fieldset>
            <fieldset><legend>3 · Model configuration</legend>
            \(HTML.select("model_config_id", "Model", choices(models), models[0].id))
            <p class="muted">Matrix factorisation takes its iterations from the model configuration; epochs, batch size and learning rate are the two-tower's.</p>
            <label>Epochs <input type="number" name="training_params.epochs" min="1" max="1000" placeholder="default"></label>
            <label>Batch size <input type="number" name="training_params.batch_size" min="1" max="65536" placeholder="default"></label>
            <label>Learning rate <input type="number" name="training_params.learning_rate" min="0" step="any" placeholder="default"></label>
            </fieldset>
            <fieldset><legend>4 · When</legend>
            \(HTML.select("schedule_config.schedule_type", "Train", kinds, "now"))
            <label>At (HH:MM; hourly 00:MM) <input name="schedule_config.schedule_time" pattern="[0-9]{2}:[0-9]{2}" value="02:00" data-timing></label>
            <label>Weekday (weekly; 0 = Monday … 6) <input type="number" name="schedule_config.schedule_day_of_week" min="0" max="6" value="0" data-timing></label>
            <label>Day (monthly) <input type="number" name="schedule_config.schedule_day_of_month" min="1" max="31" value="1" data-timing></label>
            <label>Time zone <input name="schedule_config.schedule_timezone" value="UTC" data-timing></label>
            <label class="check"><input type="checkbox" name="schedule_config.run_now" checked data-timing> Also train once now</label>
            </fieldset>
            <fieldset><legend>5 · A blessed version</legend>
            <label class="check"><input type="checkbox" name="deployment_config.enabled"> Deploy it when the run blesses it</label>
            <label>Endpoint <input name="deployment_config.service_name" pattern="[a-z0-9][a-z0-9-]*" placeholder="named after the model"></label>
            \(HTML.select("deployment_config.preset", "Preset", presets, "development"))
            </fieldset>
            <p class="error" role="alert" id="action-error" hidden></p>
            <button type="submit">Start</button>
            </form>
            <script>\(wizardScript)</script>
            """
    }

    /// A run "now" sends no timing: those fields are disabled (and so left out of the body) unless a schedule is chosen.
    static let wizardScript = """
        "use strict";
        (() => {
          const form = document.querySelector("form.wizard");
          const kind = form.elements["schedule_config.schedule_type"];
          const sync = () => { for (const field of form.querySelectorAll("[data-timing]")) field.disabled = kind.value === "now"; };
          kind.addEventListener("change", sync);
          sync();
        })();
        """
}

/// Any of training-svc's catalog lists (`/api/datasets`, `/api/feature-configs`, `/api/model-configs`): id, name and
/// description of each entry.
struct CatalogList: Decodable {
    struct Item: Decodable {
        var id: String
        var name: String
        var description: String
    }

    var datasets: [Item]?
    var featureConfigs: [Item]?
    var modelConfigs: [Item]?

    var items: [Item] { datasets ?? featureConfigs ?? modelConfigs ?? [] }
}
