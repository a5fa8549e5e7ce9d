import RegistryCore
import SlipwayPlatform

@main
struct RegistryServiceMain {
    static func main() async throws {
        try await SlipwayServiceRunner.run(RegistryService.definition)
    }
}
