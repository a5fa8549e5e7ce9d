import SlipwayCLICore

@main
struct SlipwayMain {
    static func main() async {
        await SlipwayCommand.runFromCommandLine()
    }
}
