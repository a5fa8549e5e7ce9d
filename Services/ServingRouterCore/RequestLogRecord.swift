import Foundation
import NIOCore
import SlipwayContracts

/// One answered request, as the public handler saw it. Cheap to make: bodies are kept by reference
/// and parsed into the log event by the background shipper, not on the request path.
struct RequestLogRecord: Sendable {
    var requestID: String
    /// The endpoint's id, or the URL's endpoint segment when the endpoint is unknown.
    var endpointID: String
    var endpointName: String
    var deploymentID = ""
    var revisionID = ""
    var modelName = ""
    var modelVersionID = ""
    var versionNumber = 0
    var apiKeyID = ""
    var traffic = TrafficKind.client
    var api: ServingApi
    var receivedAt: Date
    var latencyMicros: Int64 = 0
    var upstreamLatencyMicros: Int64 = 0
    var status: Int
    var error = ""
    var customerID: String?
    var topK: Int?
    var instanceCount = 0
    var requestBody: ByteBuffer?
    var responseBody: ByteBuffer?
}
