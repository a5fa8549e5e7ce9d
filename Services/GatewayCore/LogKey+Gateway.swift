import SlipwayEventSourcing

extension LogKey {
    static let httpMethod = "http.method"
    static let httpPath = "http.path"
    static let httpStatus = "http.status"
    static let reason = "slipway.reason"
    static let username = "slipway.user"
    static let tokenID = "slipway.token.id"
    static let path = "slipway.path"
}
