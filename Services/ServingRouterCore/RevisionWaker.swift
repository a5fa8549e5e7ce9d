import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import SlipwayEventSourcing
import Synchronization

/// Asks deploy-svc to wake a revision scaled to zero (`POST {deploy}/internal/revisions/{id}/wake`), while requests
/// for it wait. One call per revision at a time, and after a failed one at most one a second; the requests waiting
/// go on once the revision's instance reaches the routing table through the deploy stream.
final class RevisionWaker: Sendable {
    let deployURL: String
    let timeout: TimeAmount
    let httpClient: HTTPClient
    let logger: Logger
    private struct Call {
        var inFlight: Bool
        var at: NIODeadline
    }
    private let calls = Mutex<[String: Call]>([:])

    init(deployURL: String, timeout: TimeAmount, httpClient: HTTPClient, logger: Logger) {
        self.deployURL = deployURL
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
        do {
            let request = try HTTPClient.Request(url: "\(deployURL)/internal/revisions/\(revisionID)/wake", method: .POST)
            httpClient.execute(request: request, deadline: .now() + timeout).whenComplete { result in
                switch result {
                case .success(let response) where response.status.code < 300: finish(nil)
                case .success(let response): finish("deploy-svc answered \(response.status.code)")
                case .failure(let error): finish("\(error)")
                }
            }
        } catch {
            finish("\(error)")
        }
    }
}
