import Foundation
import GatewayCore
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import SlipwayPlatform
import Testing

@Suite("Gateway route table")
struct RouteTableTests {
    @Test(
        "the spec's paths reach their owning service",
        arguments: [
            ("/api/training-runs/12/", "training"),
            ("/api/training-runs/12/webhook/epoch-complete/", "training"),
            ("/api/training-runs/12/registered-version", "registry"),
            ("/api/training-runs/12/push", "registry"),
            ("/api/training-runs/12/deploy", "deploy"),
            ("/api/training/schedules/3/pause/", "schedule"),
            ("/api/registered-models/", "registry"),
            ("/api/registered-models/check-name/", "registry"),
            ("/api/registered-models/7/endpoints/", "deploy"),
            ("/api/models/7/deployments/", "deploy"),
            ("/api/models/7/api-keys/", "deploy"),
            ("/api/models/7/training-runs/", "training"),
            ("/api/deployments/4/rollback/", "deploy"),
            ("/api/deployments/4/metrics/", "metrics"),
            ("/api/deployed-endpoints/4/test/", "testing"),
            ("/api/deployed-endpoints/shop/load-test/", "testing"),
            ("/api/load-tests/load-1/cancel", "testing"),
            ("/api/v1/monitoring/alerts/", "metrics"),
            ("/api/datasets/", "training"),
            ("/api/v1/deployment/models/m/versions", "deploy"),
            ("/api/v1/deployment/endpoints/shop/rollback", "deploy"),
        ])
    func routes(path: String, service: String) {
        #expect(RouteTable.standard.service(for: path) == service)
    }

    @Test func unknownPathsHaveNoOwner() {
        #expect(RouteTable.standard.service(for: "/api/nope/1") == nil)
        #expect(RouteTable.standard.service(for: "/other/training-runs") == nil)
        // Prefixes that once had a rule and no service behind it.
        for path in ["/api/alerts/", "/api/feedback/", "/api/experiments/", "/api/training-schedules/"] {
            #expect(RouteTable.standard.service(for: path) == nil, "\(path)")
        }
    }
}
