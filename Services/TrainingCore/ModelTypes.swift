import SlipwayContracts
import SlipwayEventSourcing

/// The API's model type names.
enum ModelTypes {
    static let names: [String: ModelType] = ["retrieval": .retrieval, "ranking": .ranking, "multitask": .multitask]

    static func name(_ type: ModelType) -> String { names.first { $0.value == type }?.key ?? "retrieval" }

    /// nil is the default, retrieval.
    static func parse(_ value: String?, field: String) throws -> ModelType {
        let text = value ?? "retrieval"
        guard let type = names[text] else { throw CommandRejected.invalid(field, "\(field) must be one of retrieval, ranking, multitask") }
        return type
    }
}
