import SlipwayModelBundle

/// Writes the prediction answers by hand: JSONEncoder's generic machinery cost an eighth of a
/// `/recommend` request's CPU, more than all of the HTTP parsing. Same JSON, keys in sorted order.
struct RecommendationJSON {
    private(set) var bytes: [UInt8] = []

    init(capacity: Int) { bytes.reserveCapacity(capacity) }

    mutating func raw(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    /// A JSON string, escaped as RFC 8259 requires.
    mutating func string(_ value: String) {
        bytes.append(UInt8(ascii: "\""))
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\""): raw("\\\"")
            case UInt8(ascii: "\\"): raw("\\\\")
            case 0x0A: raw("\\n")
            case 0x0D: raw("\\r")
            case 0x09: raw("\\t")
            case 0..<0x20:
                let hex: [UInt8] = Array("0123456789abcdef".utf8)
                bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), hex[Int(byte >> 4)], hex[Int(byte & 0xF)]])
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    /// A score; non-finite values (never produced by a valid bundle) are written as null, not as invalid JSON.
    mutating func number(_ value: Float) {
        if value.isFinite { bytes.append(contentsOf: value.description.utf8) } else { raw("null") }
    }

    /// `"product_ids":[...],"scores":[...]`
    mutating func recommendations(_ result: Recommendations) {
        raw("\"product_ids\":[")
        for (i, id) in result.productIds.enumerated() {
            if i > 0 { bytes.append(UInt8(ascii: ",")) }
            string(id)
        }
        raw("],\"scores\":[")
        for (i, score) in result.scores.enumerated() {
            if i > 0 { bytes.append(UInt8(ascii: ",")) }
            number(score)
        }
        raw("]")
    }

    static func predict(_ results: [Recommendations]) -> [UInt8] {
        var json = RecommendationJSON(capacity: 64 + results.count * 24 * (results.first?.productIds.count ?? 1))
        json.raw("{\"predictions\":[")
        for (i, result) in results.enumerated() {
            if i > 0 { json.raw(",") }
            json.raw("{")
            json.recommendations(result)
            json.raw("}")
        }
        json.raw("]}")
        return json.bytes
    }

    static func recommend(customerID: String, _ result: Recommendations, model: ServedModel) -> [UInt8] {
        var json = RecommendationJSON(capacity: 128 + result.productIds.count * 24)
        json.raw("{\"customer_id\":")
        json.string(customerID)
        json.raw(",\"model_name\":")
        json.string(model.name)
        json.raw(",\"model_version\":")
        json.string(model.version)
        json.raw(",")
        json.recommendations(result)
        json.raw("}")
        return json.bytes
    }

    static func recommendBatch(_ entries: [(customerID: String, result: Recommendations)], model: ServedModel) -> [UInt8] {
        var json = RecommendationJSON(capacity: 128 + entries.count * 24 * (entries.first?.result.productIds.count ?? 1))
        json.raw("{\"model_name\":")
        json.string(model.name)
        json.raw(",\"model_version\":")
        json.string(model.version)
        json.raw(",\"recommendations\":[")
        for (i, entry) in entries.enumerated() {
            if i > 0 { json.raw(",") }
            json.raw("{\"customer_id\":")
            json.string(entry.customerID)
            json.raw(",")
            json.recommendations(entry.result)
            json.raw("}")
        }
        json.raw("]}")
        return json.bytes
    }
}
