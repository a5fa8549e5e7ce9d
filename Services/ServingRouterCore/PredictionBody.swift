import Foundation
import NIOCore
import SlipwayContracts

/// What the router reads from a prediction request body: the customer id it routes on and the fields
/// its request log carries. Bodies it cannot parse are forwarded anyway (model-server answers the 400).
struct PredictionBody: Sendable {
    var customerID: String?
    var topK: Int?
    var instanceCount = 0

    /// `/recommend`: `customer_id`; `/recommend-batch`: `customers[0].customer_id`; `:predict`: `instances[0].customer_id`.
    init(api: ServingApi, json: Any?) {
        guard let object = json as? [String: Any] else { return }
        topK = (object["top_k"] as? NSNumber).map { $0.intValue }
        switch api {
        case .recommend:
            customerID = Self.text(object["customer_id"])
            instanceCount = 1
        case .recommendBatch:
            let customers = object["customers"] as? [Any] ?? []
            instanceCount = customers.count
            customerID = (customers.first as? [String: Any]).flatMap { Self.text($0["customer_id"]) }
        case .predict:
            let instances = object["instances"] as? [Any] ?? []
            instanceCount = instances.count
            customerID = (instances.first as? [String: Any]).flatMap { Self.text($0["customer_id"]) }
        default:
            break
        }
    }

    static func parse(_ buffer: ByteBuffer) -> Any? {
        guard buffer.readableBytes > 0 else { return nil }
        return buffer.withUnsafeReadableBytes { raw in
            try? JSONSerialization.jsonObject(with: Data(bytesNoCopy: UnsafeMutableRawPointer(mutating: raw.baseAddress!), count: raw.count,
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
    /// `/recommend`, in `predictions[0]` or `recommendations[0]` for the batch APIs).
    static func firstProductIDs(_ buffer: ByteBuffer, limit: Int) -> [String] {
        guard let object = parse(buffer) as? [String: Any] else { return [] }
        let ids: [Any]
        if let top = object["product_ids"] as? [Any] {
            ids = top
        } else if let first = ((object["predictions"] ?? object["recommendations"]) as? [Any])?.first as? [String: Any],
                  let nested = first["product_ids"] as? [Any] {
            ids = nested
        } else {
            return []
        }
        return ids.prefix(limit).compactMap { text($0) }
    }
}

