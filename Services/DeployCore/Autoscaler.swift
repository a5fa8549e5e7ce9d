import Foundation
import SlipwayContracts

/// How many instances a revision should run, decided from the load serving-router saw. Pure: the controller brings
/// the observation (and the clock's readings in it) and carries the decision out as a `scaleRevision` command.
///
/// - Up at once to ⌈in flight ÷ target⌉ when that is more than it runs (at most `max_instances`).
/// - Down one instance at a time, only after `scaleDownDelaySeconds` without a change, when fewer would do.
/// - A revision with `min_instances` 0 goes to zero after `scaleToZeroAfterSeconds` without a request; a request
///   wakes it again (serving-router holds it meanwhile). Never below one otherwise: a revision without a share
///   (kept warm for an instant rollback) runs one instance, a serving one at least `min_instances`.
public struct Autoscaler: Sendable, Equatable {
    /// Average requests in flight per instance it aims at.
    public var targetInFlight: Double
    public var scaleDownDelaySeconds: Double
    public var scaleToZeroAfterSeconds: Double

    public init(targetInFlight: Double, scaleDownDelaySeconds: Double, scaleToZeroAfterSeconds: Double) {
        self.targetInFlight = targetInFlight
        self.scaleDownDelaySeconds = scaleDownDelaySeconds
        self.scaleToZeroAfterSeconds = scaleToZeroAfterSeconds
    }

    public struct Observation: Sendable, Equatable {
        public var instances: Int
        /// `min_instances...max_instances` (`EndpointDecider.instanceBounds`).
        public var bounds: ClosedRange<Int>
        /// Whether it has a share of the endpoint's traffic.
        public var serving: Bool
        /// Average requests in flight over the last window, every instance together; nil when unknown (a router
        /// could not be asked, or the window is not full yet): then only the bounds and idleness decide.
        public var inFlight: Double?
        /// Seconds since its last request (or since it started or woke, if none came since).
        public var idleSeconds: Double
        /// Seconds since its instances last changed.
        public var sinceLastScaleSeconds: Double

        public init(
            instances: Int, bounds: ClosedRange<Int>, serving: Bool, inFlight: Double?, idleSeconds: Double, sinceLastScaleSeconds: Double
        ) {
            self.instances = instances
            self.bounds = bounds
            self.serving = serving
            self.inFlight = inFlight
            self.idleSeconds = idleSeconds
            self.sinceLastScaleSeconds = sinceLastScaleSeconds
        }
    }

    public struct Decision: Sendable, Equatable {
        public var instances: Int
        public var cause: RevisionScaleCause
        public var reason: String
    }

    /// The change to make, or nil to leave it as it is.
    public func decide(_ o: Observation) -> Decision? {
        // Zero is reached only by idleness, and left only by a request (the wake).
        if o.instances == 0 {
            return o.bounds.lowerBound > 0
                ? Decision(instances: floor(o), cause: .minInstances, reason: "min_instances is \(o.bounds.lowerBound)") : nil
        }
        // Idle only as far as the routers tell: with none answering, a revision's requests are unknown, not absent.
        if o.bounds.lowerBound == 0, o.idleSeconds >= scaleToZeroAfterSeconds, o.inFlight != nil {
            return Decision(
                instances: 0, cause: .idle, reason: "no request for \(Int(o.idleSeconds)) s (scale to zero after \(Int(scaleToZeroAfterSeconds)) s)")
        }
        if o.instances < floor(o) {
            return Decision(instances: floor(o), cause: .minInstances, reason: "min_instances is \(o.bounds.lowerBound)")
        }
        if o.instances > o.bounds.upperBound {
            return Decision(instances: o.bounds.upperBound, cause: .maxInstances, reason: "max_instances is \(o.bounds.upperBound)")
        }
        guard let inFlight = o.inFlight else { return nil }
        let perInstance = inFlight / Double(o.instances)
        let wanted = min(o.bounds.upperBound, max(floor(o), Int((inFlight / targetInFlight).rounded(.up))))
        let figures = "\(Self.format(perInstance)) in flight per instance"
        if wanted > o.instances {
            return Decision(instances: wanted, cause: .load, reason: "\(figures) > target \(Self.format(targetInFlight))")
        }
        if wanted < o.instances, o.sinceLastScaleSeconds >= scaleDownDelaySeconds {
            return Decision(instances: o.instances - 1, cause: .load, reason: "\(figures) < target \(Self.format(targetInFlight))")
        }
        return nil
    }

    /// The fewest instances it runs while it runs at all.
    func floor(_ o: Observation) -> Int { o.serving ? max(1, o.bounds.lowerBound) : 1 }

    static func format(_ value: Double) -> String { String(format: "%.1f", value) }
}
