import ServingRouterCore

@main
struct ServingRouterMain {
    static func main() async throws {}
}
