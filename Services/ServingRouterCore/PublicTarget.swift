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
        let matched = PredictionRoute.match(method: method.rawValue, path: rest[...])
        api = matched?.route.api ?? .unspecified
        isKnownRoute = matched != nil
    }
}
