import Foundation
import SlipwayStatistics

/// A weighted split across revisions, sticky per customer: the customer id hashes (FNV-1a) into a
/// bucket 0..<100, and the bucket falls into one revision's cumulative share, revisions ordered by id.
/// Shares that do not add up to 100 (a revision not ready yet is left out) are scaled onto the total.
/// Within a revision, a request goes to the instance with the fewest requests outstanding.
struct TrafficSplit: Sendable {
    struct Route: Sendable {
        let revisionID: String
        let deploymentID: String
        /// Empty while the revision is scaled to zero (a request wakes it).
        let instances: [UpstreamInstance]
        let load: RevisionLoad
        let modelVersionID: String
        let versionNumber: Int
        let percent: Int

        init(
            revisionID: String, deploymentID: String, instances: [UpstreamInstance], load: RevisionLoad = RevisionLoad(),
            modelVersionID: String, versionNumber: Int, percent: Int
        ) {
            self.revisionID = revisionID
            self.deploymentID = deploymentID
            self.instances = instances
            self.load = load
            self.modelVersionID = modelVersionID
            self.versionNumber = versionNumber
            self.percent = percent
        }

        /// The instance with the fewest requests outstanding, `excluding` those already tried; ties go to a random
        /// one, so a burst does not all land on the first. Nil when none is left.
        func leastOutstanding(excluding tried: Set<String> = []) -> UpstreamInstance? {
            guard !instances.isEmpty else { return nil }
            if instances.count == 1 { return tried.contains(instances[0].address) ? nil : instances[0] }
            let start = Int.random(in: 0..<instances.count)
            var best: UpstreamInstance?
            var fewest = Int.max
            for offset in 0..<instances.count {
                let instance = instances[(start + offset) % instances.count]
                guard !tried.contains(instance.address) else { continue }
                let outstanding = instance.outstanding.load(ordering: .relaxed)
                if outstanding < fewest { (best, fewest) = (instance, outstanding) }
            }
            return best
        }
    }

    let routes: [Route]
    private let cumulative: [Int]
    let total: Int

    init(_ routes: [Route]) {
        self.routes = routes.sorted { $0.revisionID < $1.revisionID }
        var running = 0
        cumulative = self.routes.map {
            running += $0.percent; return running
        }
        total = running
    }

    var isEmpty: Bool { routes.isEmpty }

    /// The route for a bucket in 0..<100.
    func index(forBucket bucket: Int) -> Int? {
        guard total > 0 else { return nil }
        let point = bucket * total / 100
        return cumulative.firstIndex { point < $0 } ?? routes.count - 1
    }

    /// The route a customer sticks to; no customer id → a random bucket.
    func index(forCustomer customerID: String?) -> Int? {
        index(forBucket: customerID.map(Self.bucket(for:)) ?? Int.random(in: 0..<100))
    }

    /// Another revision of the split to retry on after an upstream failure, if there is one.
    func fallback(after index: Int) -> Int? {
        routes.count > 1 ? (index + 1) % routes.count : nil
    }

    /// FNV-1a: stable across processes and releases (unlike `Hasher`), so a customer keeps its bucket.
    static func bucket(for customerID: String) -> Int { Int(StableHash.fnv1a64(customerID) % 100) }
}
