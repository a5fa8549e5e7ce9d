import SlipwayEventSourcing
import SlipwayPlatform

/// Records, once per interval, which tokens were used: one `ApiTokenUsed` per token (`last_used_at` in the token list).
struct TokenUsageReporter: Sendable {
    let environment: ServiceEnvironment
    let authenticator: Authenticator

    func report() async {
        let usage = authenticator.drainUsage()
        guard !usage.isEmpty else { return }
        let metadata = CommandMetadata(actor: "gateway")
        let results = await environment.store.executeAll(
            ApiTokenDecider.self,
            usage.map {
                (aggregateID: $0.key, command: .recordUsage(lastUsedAt: $0.value.lastUsedAt, requestCount: $0.value.requestCount), metadata: metadata)
            })
        for case .failure(let error) in results where !(error is CommandRejected) {
            environment.logger.warning("token usage not recorded", metadata: [LogKey.error: "\(error)"])
        }
    }
}
