import GatewayCore

@main
struct GatewayMain {
    static func main() async throws {
        try await GatewayService.run()
    }
}
