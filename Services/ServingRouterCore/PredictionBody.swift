import Foundation
import NIOCore
import SlipwayContracts

/// What the router reads from a prediction request body: the customer id it routes on and the fields
/// its request log carries. Bodies it cannot parse are forwarded anyway (model-server answers the 400).
struct PredictionBody: Sendable {
    var customerID: String?
    var topK: Int?
    var instanceCount = 0

    /// `/recommend`: `customer_id`; `/recommend-batch`: `customers[0].customer_id` (or the spec's `customer_ids[0]`);
    /// `:predict`: `instances[0].customer_id`.
    init(api: ServingApi, json: Any?) {
        guard let object = json as? [String: Any] else { return }
        topK = (object["top_k"] as? NSNumber).map { $0.intValue }
        switch api {
        case .recommend:
            customerID = Self.text(object["customer_id"])
            instanceCount = 1
        case .recommendBatch:
            if let ids = object["customer_ids"] as? [Any] {  // the spec's batch
                instanceCount = ids.count
                customerID = Self.text(ids.first)
            } else {
                let customers = object["customers"] as? [Any] ?? []
                instanceCount = customers.count
                customerID = (customers.first as? [String: Any]).flatMap { Self.text($0["customer_id"]) }
            }
        case .predict:
            let instances = object["instances"] as? [Any] ?? []
            instanceCount = instances.count
            customerID = (instances.first as? [String: Any]).flatMap { Self.text($0["customer_id"]) }
        default:
            break
        }
    }

    /// The first `"customer_id": <string or number>` in a body, found by scanning bytes rather than parsing
    /// the document: the request path needs only this (the log's other fields are parsed off the path).
    /// For the three APIs the first occurrence is the one routing uses (`customer_id`,
    /// `customers[0].customer_id`, `instances[0].customer_id`). A value with escapes returns nil
    /// (`scanFailed`), and the caller falls back to a full parse.
    static func scanCustomerID(_ buffer: ByteBuffer) -> (id: String?, scanFailed: Bool) {
        buffer.withUnsafeReadableBytes { bytes -> (String?, Bool) in
            let key = Array(#""customer_id""#.utf8)
            let count = bytes.count
            var i = 0
            func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 }
            while i + key.count <= count {
                guard bytes[i] == UInt8(ascii: "\""), bytes[i + 1] == UInt8(ascii: "c") else { i += 1; continue }
                var matches = true
                for k in 0..<key.count where bytes[i + k] != key[k] { matches = false; break }
                guard matches else { i += 1; continue }
                var j = i + key.count
                while j < count, isSpace(bytes[j]) { j += 1 }
                guard j < count, bytes[j] == UInt8(ascii: ":") else { i += key.count; continue }  // a value, not a key
                j += 1
                while j < count, isSpace(bytes[j]) { j += 1 }
                guard j < count else { return (nil, true) }
                if bytes[j] == UInt8(ascii: "\"") {
                    let start = j + 1
                    var end = start
                    while end < count, bytes[end] != UInt8(ascii: "\"") {
                        if bytes[end] == UInt8(ascii: "\\") { return (nil, true) }
                        end += 1
                    }
                    guard end < count else { return (nil, true) }
                    return (String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self), false)
                }
                var end = j
                while end < count, (bytes[end] >= UInt8(ascii: "0") && bytes[end] <= UInt8(ascii: "9")) || bytes[end] == UInt8(ascii: "-") {
                    end += 1
                }
                guard end > j else { return (nil, true) }  // null, an object, a float…: let the parser decide
                if end < count, bytes[end] == UInt8(ascii: ".") || bytes[end] == UInt8(ascii: "e") || bytes[end] == UInt8(ascii: "E") {
                    return (nil, true)
                }
                return (String(decoding: UnsafeRawBufferPointer(rebasing: bytes[j..<end]), as: UTF8.self), false)
            }
            return (nil, false)
        }
    }

    /// The customer id the request routes on: the byte scan, or a full parse when the scan cannot tell.
    static func routingCustomerID(api: ServingApi, body: ByteBuffer) -> String? {
        let scanned = scanCustomerID(body)
        if !scanned.scanFailed { return scanned.id }
        return PredictionBody(api: api, json: parse(body)).customerID
    }

    static func parse(_ buffer: ByteBuffer) -> Any? {
        guard buffer.readableBytes > 0 else { return nil }
        return buffer.withUnsafeReadableBytes { raw in
            try? JSONSerialization.jsonObject(
                with: Data(
                    bytesNoCopy: UnsafeMutableRawPointer(mutating: raw.baseAddress!), count: raw.count,
                    deallocator: .none), options: [.fragmentsAllowed])
        }
    }

    /// A string or a number as text (customer ids arrive as either).
    static func text(_ value: Any?) -> String? {
        switch value {
        case let string as String: return string
        case let number as NSNumber: return number.stringValue
        default: return nil
        }
    }

    /// Raw features of the first `limit` instances, for drift detection downstream.
    static func sampledInstances(api: ServingApi, json: Any?, limit: Int) -> [FeatureRow] {
        guard let object = json as? [String: Any] else { return [] }
        let rows: [[String: Any]]
        switch api {
        case .recommend:
            var features = object["features"] as? [String: Any] ?? [:]
            if let id = object["customer_id"] { features["customer_id"] = id }
            rows = [features]
        case .recommendBatch where object["customer_ids"] != nil:
            rows = (object["customer_ids"] as? [Any] ?? []).prefix(limit).map { ["customer_id": $0] }
        case .recommendBatch:
            rows = (object["customers"] as? [Any] ?? []).prefix(limit).compactMap { entry in
                guard let customer = entry as? [String: Any] else { return nil }
                var features = customer["features"] as? [String: Any] ?? [:]
                if let id = customer["customer_id"] { features["customer_id"] = id }
                return features
            }
        case .predict:
            rows = (object["instances"] as? [Any] ?? []).prefix(limit).compactMap { $0 as? [String: Any] }
        default:
            rows = []
        }
        return rows.map { features in
            var row = FeatureRow()
            for (name, value) in features {
                if let converted = featureValue(value) { row.features[name] = converted }
            }
            return row
        }
    }

    static func featureValue(_ value: Any) -> SlipwayContracts.FeatureValue? {
        var result = SlipwayContracts.FeatureValue()
        switch value {
        case let string as String:
            result.stringValue = string
        case let flag as Bool where type(of: value) == Bool.self:
            result.boolValue = flag
        case let number as NSNumber:
            // JSONSerialization makes booleans NSNumbers of type "c" (a JSON number never is one).
            if String(cString: number.objCType) == "c" {
                result.boolValue = number.boolValue
            } else if String(cString: number.objCType) == "d" || String(cString: number.objCType) == "f" {
                result.doubleValue = number.doubleValue
            } else {
                result.int64Value = number.int64Value
            }
        case let list as [Any]:
            if list.allSatisfy({ $0 is String }) {
                var strings = SlipwayContracts.FeatureValue.StringList()
                strings.values = list.compactMap { $0 as? String }
                result.stringList = strings
            } else {
                var doubles = SlipwayContracts.FeatureValue.DoubleList()
                doubles.values = list.compactMap { ($0 as? NSNumber)?.doubleValue }
                result.doubleList = doubles
            }
        default:
            return nil
        }
        return result
    }

    /// The first result's product ids in a model-server answer (`product_ids` at the top level for
    /// `/recommend`, in `predictions[0]` or `recommendations[0]` for the batch APIs; in the spec's shapes,
    /// `recommendations[*].product_id`, or `results[0].recommendations[*].product_id` for a batch).
    static func firstProductIDs(_ buffer: ByteBuffer, limit: Int) -> [String] {
        if let scanned = scanFirstProductIDs(buffer, limit: limit) { return scanned }
        guard let object = parse(buffer) as? [String: Any] else { return [] }
        let ids: [Any]
        if let top = object["product_ids"] as? [Any] {
            ids = top
        } else if let first = ((object["predictions"] ?? object["recommendations"]) as? [Any])?.first as? [String: Any],
            let nested = first["product_ids"] as? [Any]
        {
            ids = nested
        } else if let items = (object["recommendations"] ?? ((object["results"] as? [Any])?.first as? [String: Any])?["recommendations"]) as? [Any] {
            ids = items.compactMap { ($0 as? [String: Any])?["product_id"] }
        } else {
            return []
        }
        return ids.prefix(limit).compactMap { text($0) }
    }

    /// The first `"product_ids": ["…", …]` array of a model-server answer, by scanning (the first result's
    /// ids come first in every answer shape); nil when the bytes are not that simple (then a full parse).
    static func scanFirstProductIDs(_ buffer: ByteBuffer, limit: Int) -> [String]? {
        buffer.withUnsafeReadableBytes { bytes -> [String]? in
            let key = Array(#""product_ids""#.utf8)
            let count = bytes.count
            var i = 0
            while i + key.count <= count {
                var matches = true
                for k in 0..<key.count where bytes[i + k] != key[k] { matches = false; break }
                if !matches { i += 1; continue }
                var j = i + key.count
                while j < count, bytes[j] == 0x20 { j += 1 }
                guard j < count, bytes[j] == UInt8(ascii: ":") else { return nil }
                j += 1
                while j < count, bytes[j] == 0x20 { j += 1 }
                guard j < count, bytes[j] == UInt8(ascii: "[") else { return nil }
                j += 1
                var ids: [String] = []
                while j < count {
                    while j < count, bytes[j] == 0x20 || bytes[j] == UInt8(ascii: ",") { j += 1 }
                    guard j < count else { return nil }
                    if bytes[j] == UInt8(ascii: "]") { return ids }
                    guard bytes[j] == UInt8(ascii: "\"") else { return nil }
                    let start = j + 1
                    var end = start
                    while end < count, bytes[end] != UInt8(ascii: "\"") {
                        if bytes[end] == UInt8(ascii: "\\") { return nil }
                        end += 1
                    }
                    guard end < count else { return nil }
                    if ids.count < limit { ids.append(String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self)) }
                    j = end + 1
                }
                return nil
            }
            return nil
        }
    }
}
