import Foundation
import NIOHTTP1
import SlipwayContracts

/// `/{endpoint}{rest}` and which serving API `rest` is.
struct PublicTarget: Sendable, Equatable {
    let endpoint: String
    /// The path after the endpoint, with its leading slash ("/recommend"), as forwarded.
    let rest: String
    let api: ServingApi
    let isKnownRoute: Bool

    init(method: HTTPMethod, path: String) {
        let trimmed = path.drop { $0 == "/" }
        let slash = trimmed.firstIndex(of: "/") ?? trimmed.endIndex
        let segment = String(trimmed[..<slash])
        endpoint = segment.contains("%") ? (segment.removingPercentEncoding ?? segment) : segment
        rest = slash == trimmed.endIndex ? "/" : String(trimmed[slash...])
        switch (method, rest) {
        case (.POST, "/recommend"):
            (api, isKnownRoute) = (.recommend, true)
        case (.POST, "/recommend-batch"):
            (api, isKnownRoute) = (.recommendBatch, true)
        case (.GET, "/health"):
            (api, isKnownRoute) = (.unspecified, true)
        default:
            // "/v1/models/{model}" or "/v1/models/{model}:predict"
            let parts = rest.split(separator: "/", omittingEmptySubsequences: false)
            if parts.count == 4, parts[1] == "v1", parts[2] == "models", !parts[3].isEmpty {
                if method == .POST, parts[3].hasSuffix(":predict"), parts[3].count > ":predict".count {
                    (api, isKnownRoute) = (.predict, true)
                } else if method == .GET, !parts[3].contains(":") {
                    (api, isKnownRoute) = (.metadata, true)
                } else {
                    (api, isKnownRoute) = (.unspecified, false)
                }
            } else {
                (api, isKnownRoute) = (.unspecified, false)
            }
        }
    }
}
