import DeployCore
import SlipwayPlatform

@main
struct DeployServiceMain {
    static func main() async throws {
        try await SlipwayServiceRunner.run(try DeployService.definition())
    }
}
