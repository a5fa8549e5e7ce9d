import Foundation

/// serving-router's `GET /internal/load` (admin port): the load of every revision in its routing table, cumulative
/// since `router_id` began counting. deploy-svc's autoscaler reads it from every router and differences two reports
/// of the same router; a new `router_id` (a restarted router) starts over.
public struct RouterLoadReport: Codable, Sendable, Equatable {
    /// One instance of a revision as the router balances across them.
    public struct Instance: Codable, Sendable, Equatable {
        public var address: String
        /// Requests sent to it.
        public var sent: Int
        /// Requests it has not answered yet.
        public var outstanding: Int

        public init(address: String, sent: Int, outstanding: Int) {
            self.address = address
            self.sent = sent
            self.outstanding = outstanding
        }
    }

    public struct Revision: Codable, Sendable, Equatable {
        public var revisionID: String
        /// Requests routed to it.
        public var requests: Int
        /// Requests in flight now (waiting for a revision scaled to zero to wake included).
        public var inFlight: Int
        /// In-flight requests integrated over time, in microseconds: Δ over a window ÷ the window = average in flight.
        public var busyMicros: Int
        public var instances: [Instance]

        public init(revisionID: String, requests: Int, inFlight: Int, busyMicros: Int, instances: [Instance] = []) {
            self.revisionID = revisionID
            self.requests = requests
            self.inFlight = inFlight
            self.busyMicros = busyMicros
            self.instances = instances
        }

        enum CodingKeys: String, CodingKey {
            case revisionID = "revision_id", requests, inFlight = "in_flight", busyMicros = "busy_micros", instances
        }
    }

    /// This router process (random per start).
    public var routerID: String
    public var revisions: [Revision]

    public init(routerID: String, revisions: [Revision]) {
        self.routerID = routerID
        self.revisions = revisions
    }

    enum CodingKeys: String, CodingKey { case routerID = "router_id", revisions }
}
