import Foundation

/// The versions a bench deploys.
enum BenchVersions {
    /// The newest `count` versions of the model, oldest first, training small demo versions (`slipway train --demo`,
    /// 20,000 transactions) first if there are fewer.
    static func ensure(_ api: APIClient, model: String, count: Int, gateway: String?) async throws -> [Int] {
        func versions() async throws -> [Int] {
            let answer = try await api.call(.GET, "/api/registered-models/\(model)/versions")
            guard answer.status == 200 else { return [] }
            let list = answer.json["versions"] as? [[String: Any]] ?? answer.json["results"] as? [[String: Any]] ?? []
            return list.compactMap { $0["version"] as? Int }.sorted()
        }
        var known = try await versions()
        while known.count < count {
            say("\(model) has \(known.count) version(s); training a small demo version")
            let train =
                try TrainCommand.parseAsRoot(
                    ["--demo", "--model", model, "--transactions", "20000", "--epochs", "2"] + (gateway.map { ["--gateway", $0] } ?? []))
                as! TrainCommand
            try await train.run()
            known = try await versions()
        }
        return Array(known.suffix(count))
    }
}
