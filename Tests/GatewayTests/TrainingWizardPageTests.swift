import Foundation
import Testing

@testable import GatewayCore

/// The training wizard's form (the browser check trains the demo model through it on a real platform).
@Suite("Training wizard page")
struct TrainingWizardPageTests {
    static let item = CatalogList.Item(id: "ds-1", name: "<demo>", description: "500 customers")

    @Test("one form for the run, its schedule and its deployment, with the wizard's field names; the catalog's names escaped")
    func form() {
        let html = WebPages.wizard(
            datasets: [Self.item], features: [.init(id: "fc-1", name: "b2b", description: "")],
            models: [.init(id: "mc-1", name: "mf-64", description: "")],
            model: "recs\"")
        #expect(html.contains(#"<form class="wizard" data-api="/api/training-runs" data-redirect="/training/{training_run.id}">"#))
        #expect(html.contains(#"<option value="ds-1" selected>&lt;demo&gt; — 500 customers</option>"#) && !html.contains("<demo>"))
        for name in [
            "dataset_id", "feature_config_id", "model_config_id", "training_params.epochs", "schedule_config.schedule_type",
            "schedule_config.run_now",
            "deployment_config.enabled", "deployment_config.service_name",
        ] {
            #expect(html.contains(#"name="\#(name)""#), "\(name)")
        }
        #expect(html.contains(#"value="recs&quot;""#), "the model named in the link, escaped")
        #expect(html.contains(#"<option value="now" selected>Now, once</option>"#))
    }

    @Test("without a dataset, features or a model configuration, the page says how to make them")
    func emptyCatalog() {
        let html = WebPages.wizard(datasets: [], features: [Self.item], models: [Self.item], model: nil)
        #expect(!html.contains("<form") && html.contains("slipway train --demo"))
    }
}
