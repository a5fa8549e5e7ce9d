import NIOCore
import SlipwayModelBundle

/// Writes the prediction answers by hand, straight into the response buffer: JSONEncoder's generic
/// machinery cost an eighth of a `/recommend` request's CPU, more than all of the HTTP parsing.
/// Same JSON, keys in sorted order.
enum RecommendationJSON {
    /// A JSON string, escaped as RFC 8259 requires.
    static func string(_ value: String, into out: inout ByteBuffer) {
        out.writeInteger(UInt8(ascii: "\""))
        if !value.utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
            out.writeString(value)
        } else {
            for byte in value.utf8 {
                switch byte {
                case UInt8(ascii: "\""): out.writeStaticString("\\\"")
                case UInt8(ascii: "\\"): out.writeStaticString("\\\\")
                case 0x0A: out.writeStaticString("\\n")
                case 0x0D: out.writeStaticString("\\r")
                case 0x09: out.writeStaticString("\\t")
                case 0..<0x20:
                    let hex: StaticString = "0123456789abcdef"
                    out.writeStaticString("\\u00")
                    out.writeInteger(hex.utf8Start[Int(byte >> 4)])
                    out.writeInteger(hex.utf8Start[Int(byte & 0xF)])
                default: out.writeInteger(byte)
                }
            }
        }
        out.writeInteger(UInt8(ascii: "\""))
    }

    /// A score; non-finite values (never produced by a valid bundle) are written as null, not as invalid JSON.
    static func number(_ value: Float, into out: inout ByteBuffer) {
        if value.isFinite { out.writeString(value.description) } else { out.writeStaticString("null") }
    }

    /// `"fallback":"popularity",` for an answer that is not the model's view of a known customer; nothing for a
    /// known customer, whose answer keeps the keys it always had. `fallback` sorts before every key that follows it.
    static func fallback(_ fallback: Recommendations.Fallback?, into out: inout ByteBuffer) {
        guard let fallback else { return }
        out.writeStaticString("\"fallback\":")
        string(fallback.rawValue, into: &out)
        out.writeInteger(UInt8(ascii: ","))
    }

    /// `"product_ids":[...],"scores":[...]`
    static func recommendations(_ result: Recommendations, into out: inout ByteBuffer) {
        out.writeStaticString("\"product_ids\":[")
        for (i, id) in result.productIds.enumerated() {
            if i > 0 { out.writeInteger(UInt8(ascii: ",")) }
            string(id, into: &out)
        }
        out.writeStaticString("],\"scores\":[")
        for (i, score) in result.scores.enumerated() {
            if i > 0 { out.writeInteger(UInt8(ascii: ",")) }
            number(score, into: &out)
        }
        out.writeInteger(UInt8(ascii: "]"))
    }

    static func predict(_ results: [Recommendations], into out: inout ByteBuffer) {
        out.writeStaticString("{\"predictions\":[")
        for (i, result) in results.enumerated() {
            if i > 0 { out.writeInteger(UInt8(ascii: ",")) }
            out.writeInteger(UInt8(ascii: "{"))
            fallback(result.fallback, into: &out)
            recommendations(result, into: &out)
            out.writeInteger(UInt8(ascii: "}"))
        }
        out.writeStaticString("]}")
    }

    /// A ranking as Slipway writes it (`"product_ids":[...],"scores":[...]`) or as the spec does
    /// (`"recommendations":[{"product_id":"…","score":…},…]`).
    static func ranking(_ result: Recommendations, _ format: AnswerFormat, into out: inout ByteBuffer) {
        guard format == .spec else { return recommendations(result, into: &out) }
        out.writeStaticString("\"recommendations\":[")
        for (i, id) in result.productIds.enumerated() {
            if i > 0 { out.writeInteger(UInt8(ascii: ",")) }
            out.writeStaticString("{\"product_id\":")
            string(id, into: &out)
            out.writeStaticString(",\"score\":")
            number(result.scores[i], into: &out)
            out.writeInteger(UInt8(ascii: "}"))
        }
        out.writeInteger(UInt8(ascii: "]"))
    }

    /// `"customer_id":"…",` and the fallback, if any: how every answer about one customer begins.
    static func customer(_ customerID: String, _ result: Recommendations, into out: inout ByteBuffer) {
        out.writeStaticString("\"customer_id\":")
        string(customerID, into: &out)
        out.writeInteger(UInt8(ascii: ","))
        fallback(result.fallback, into: &out)
    }

    /// Slipway's `{"customer_id", "fallback"?, "model_name", "model_version", "product_ids", "scores"}`, or the spec's
    /// `{"customer_id", "fallback"?, "model_version", "recommendations": [{"product_id", "score"}]}`.
    static func recommend(customerID: String, _ result: Recommendations, model: ServedModel, format: AnswerFormat, into out: inout ByteBuffer) {
        out.writeInteger(UInt8(ascii: "{"))
        customer(customerID, result, into: &out)
        if format == .slipway {
            out.writeStaticString("\"model_name\":")
            string(model.name, into: &out)
            out.writeInteger(UInt8(ascii: ","))
        }
        out.writeStaticString("\"model_version\":")
        string(model.version, into: &out)
        out.writeInteger(UInt8(ascii: ","))
        ranking(result, format, into: &out)
        out.writeInteger(UInt8(ascii: "}"))
    }

    /// Slipway's `{"model_name", "model_version", "recommendations": [{"customer_id", "fallback"?, "product_ids", "scores"}]}`,
    /// or the spec's `{"model_version", "results": [{"customer_id", "fallback"?, "recommendations": [...]}]}`.
    static func recommendBatch(
        _ entries: [(customerID: String, result: Recommendations)], model: ServedModel, format: AnswerFormat, into out: inout ByteBuffer
    ) {
        out.writeInteger(UInt8(ascii: "{"))
        if format == .slipway {
            out.writeStaticString("\"model_name\":")
            string(model.name, into: &out)
            out.writeInteger(UInt8(ascii: ","))
        }
        out.writeStaticString("\"model_version\":")
        string(model.version, into: &out)
        out.writeStaticString(format == .spec ? ",\"results\":[" : ",\"recommendations\":[")
        for (i, entry) in entries.enumerated() {
            if i > 0 { out.writeInteger(UInt8(ascii: ",")) }
            out.writeInteger(UInt8(ascii: "{"))
            customer(entry.customerID, entry.result, into: &out)
            ranking(entry.result, format, into: &out)
            out.writeInteger(UInt8(ascii: "}"))
        }
        out.writeStaticString("]}")
    }
}
