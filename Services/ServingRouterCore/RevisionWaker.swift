import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import SlipwayEventSourcing
import Synchronization

/// Asks deploy-svc to wake a revision scaled to zero (`POST {deploy}/internal/revisions/{id}/wake`), while requests
/// for it wait. One call per revision at a time, and after a failed one at most one a second; the requests waiting
/// go on once the revision's instance reaches the routing table through the deploy stream. Only the replica leading
/// deploy-svc's controller wakes (the others answer 503), so the replicas are asked in turn until one does.
final class RevisionWaker: Sendable {
    let deploy: PeerAddresses
    let timeout: TimeAmount
    let httpClient: HTTPClient
    let logger: Logger
    private struct Call {
        var inFlight: Bool
        var at: NIODeadline
    }
    private let calls = Mutex<[String: Call]>([:])

    init(deploy: PeerAddresses, timeout: TimeAmount, httpClient: HTTPClient, logger: Logger) {
        self.deploy = deploy
        self.timeout = timeout
        self.httpClient = httpClient
        self.logger = logger
    }

    func wake(_ revisionID: String) {
        let now = NIODeadline.now()
        let due = calls.withLock { calls in
            if let call = calls[revisionID], call.inFlight || now - call.at < .seconds(1) { return false }
            calls[revisionID] = Call(inFlight: true, at: now)
            return true
        }
        guard due else { return }
        let finish: @Sendable (String?) -> Void = { [self] failure in
            calls.withLock { $0[revisionID] = Call(inFlight: false, at: .now()) }
            if let failure { logger.warning("could not wake revision", metadata: [LogKey.revisionID: "\(revisionID)", LogKey.error: "\(failure)"]) }
        }
        logger.info("waking revision scaled to zero", metadata: [LogKey.revisionID: "\(revisionID)"])
        Task { [deploy, httpClient, timeout] in
            var failures: [String] = []
            for base in deploy.urls {
                do {
                    var request = HTTPClientRequest(url: "\(base)/internal/revisions/\(revisionID)/wake")
                    request.method = .POST
                    let response = try await httpClient.execute(request, timeout: timeout)
                    _ = try? await response.body.collect(upTo: 1 << 20)
                    if response.status.code < 300 { return finish(nil) }
                    failures.append("\(base) answered \(response.status.code)")
                } catch {
                    failures.append("\(base): \(error)")
                }
            }
            finish(failures.joined(separator: "; "))
        }
    }
}
