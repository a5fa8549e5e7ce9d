import Foundation
import SlipwayContracts

/// What a revision needs to run: one model version's bundle behind one endpoint.
public struct RevisionSpec: Sendable {
    public var revisionID: String
    public var endpoint: String
    public var modelName: String
    public var versionNumber: Int32
    public var artifactURI: String
    public var resources: ServingResources
    /// Where it ran before (a restart keeps the address the router already routes to).
    public var previousAddress: String?
}

/// Where revisions run. `local` (model-server processes on this machine) is the one built; a
/// `kubernetes` target (a Deployment + Service per revision) implements the same calls.
///
/// A revision runs one or more instances (model-server processes), numbered from 0; the controller decides how
/// many (the revision's `min_instances`..`max_instances`, by load) and records their addresses.
public protocol ServingTarget: Sendable {
    /// Starts one instance of the revision — or adopts its process if one survived a deploy-svc restart — and
    /// returns once it answers `/health`: its base URL and how long it took.
    func start(_ revision: RevisionSpec, instance: Int) async throws -> (address: String, startupMs: Int64)
    /// Whether the instance's process is running (false after a crash).
    func isRunning(_ revisionID: String, instance: Int) async -> Bool
    /// The revision's instances whose processes run, recorded or not (one a drain was cut short by a restart, …).
    func runningInstances(_ revisionID: String) async -> [Int]
    func stop(_ revisionID: String, instance: Int) async
    /// Stops every instance of the revision.
    func stop(_ revisionID: String) async
    func stopAll() async
}

public struct RevisionStartError: Error, CustomStringConvertible {
    public var message: String
    public var logTail: String
    public var description: String { message }
}
