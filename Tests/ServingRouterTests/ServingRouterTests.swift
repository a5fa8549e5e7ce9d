import Testing
@testable import ServingRouterCore
