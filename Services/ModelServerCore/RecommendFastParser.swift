import SlipwayModelBundle

/// A hand parser for the common shape of a `/recommend` body — `{"customer_id": "C12", "top_k": 10,
/// "features": {"city": "Warsaw"}}` with plain ASCII strings and integers — because JSONDecoder cost
/// about 9% of a request's CPU (perf, 1 event loop), more than the whole HTTP parse.
///
/// It accepts only what it can decode exactly as JSONDecoder would and returns `nil` for anything
/// else (escapes, non-ASCII, fractions, unknown or repeated keys, malformed JSON); the caller then
/// decodes with JSONDecoder, so errors and edge cases answer exactly as before.
struct RecommendFastParser {
    private let bytes: UnsafeRawBufferPointer
    private var at = 0

    static func parse(_ bytes: UnsafeRawBufferPointer) -> RecommendRequest? {
        var parser = RecommendFastParser(bytes: bytes)
        return parser.request()
    }

    private init(bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    private mutating func request() -> RecommendRequest? {
        var customerID: FeatureValue?
        var topK: Int??
        var features: [String: FeatureValue]??
        guard take(UInt8(ascii: "{")) else { return nil }
        if !take(UInt8(ascii: "}")) {
            repeat {
                guard let key = plainString(), take(UInt8(ascii: ":")) else { return nil }
                switch key {
                case "customer_id" where customerID == nil:
                    guard let value = featureValue() else { return nil }
                    customerID = value
                case "top_k" where topK == nil:
                    if takeNull() { topK = .some(nil); break }
                    guard let value = integer() else { return nil }
                    topK = .some(value)
                case "features" where features == nil:
                    if takeNull() { features = .some(nil); break }
                    guard let value = featureObject() else { return nil }
                    features = .some(value)
                default:
                    return nil
                }
            } while take(UInt8(ascii: ","))
            guard take(UInt8(ascii: "}")) else { return nil }
        }
        skipWhitespace()
        guard at == bytes.count, let customerID else { return nil }
        return RecommendRequest(customerID: customerID, topK: topK ?? nil, features: features ?? nil)
    }

    private mutating func featureObject() -> [String: FeatureValue]? {
        guard take(UInt8(ascii: "{")) else { return nil }
        var object: [String: FeatureValue] = [:]
        if take(UInt8(ascii: "}")) { return object }
        repeat {
            guard let key = plainString(), object[key] == nil, take(UInt8(ascii: ":")), let value = featureValue() else { return nil }
            object[key] = value
        } while take(UInt8(ascii: ","))
        return take(UInt8(ascii: "}")) ? object : nil
    }

    /// A string or an integer, as `FeatureValue`'s decoder reads them.
    private mutating func featureValue() -> FeatureValue? {
        skipWhitespace()
        guard at < bytes.count else { return nil }
        if bytes[at] == UInt8(ascii: "\"") { return plainString().map(FeatureValue.string) }
        return integer().map(FeatureValue.int)
    }

    /// A JSON string of printable ASCII without escapes.
    private mutating func plainString() -> String? {
        guard take(UInt8(ascii: "\"")) else { return nil }
        let start = at
        while at < bytes.count {
            let byte = bytes[at]
            if byte == UInt8(ascii: "\"") {
                let value = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<at]), as: UTF8.self)
                at += 1
                return value
            }
            guard byte >= 0x20, byte < 0x7F, byte != UInt8(ascii: "\\") else { return nil }
            at += 1
        }
        return nil
    }

    /// An integer without fraction or exponent, at most 18 digits (never overflows), no leading zeros.
    private mutating func integer() -> Int? {
        skipWhitespace()
        var negative = false
        if at < bytes.count, bytes[at] == UInt8(ascii: "-") { negative = true; at += 1 }
        let start = at
        var value = 0
        while at < bytes.count, bytes[at] >= UInt8(ascii: "0"), bytes[at] <= UInt8(ascii: "9") {
            guard at - start < 18 else { return nil }
            value = value * 10 + Int(bytes[at] - UInt8(ascii: "0"))
            at += 1
        }
        let digits = at - start
        guard digits > 0, !(digits > 1 && bytes[start] == UInt8(ascii: "0")) else { return nil }
        if at < bytes.count, [UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E")].contains(bytes[at]) { return nil }
        return negative ? -value : value
    }

    private mutating func takeNull() -> Bool {
        skipWhitespace()
        guard bytes.count - at >= 4, bytes[at] == UInt8(ascii: "n"), bytes[at + 1] == UInt8(ascii: "u"),
            bytes[at + 2] == UInt8(ascii: "l"), bytes[at + 3] == UInt8(ascii: "l")
        else { return false }
        at += 4
        return true
    }

    /// Skips whitespace, then consumes `byte` if it comes next.
    private mutating func take(_ byte: UInt8) -> Bool {
        skipWhitespace()
        guard at < bytes.count, bytes[at] == byte else { return false }
        at += 1
        return true
    }

    private mutating func skipWhitespace() {
        while at < bytes.count {
            switch bytes[at] {
            case UInt8(ascii: " "), UInt8(ascii: "\n"), UInt8(ascii: "\r"), UInt8(ascii: "\t"): at += 1
            default: return
            }
        }
    }
}
