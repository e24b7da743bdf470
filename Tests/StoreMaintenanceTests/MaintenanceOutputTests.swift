import StoreMaintenance
import Testing

@Suite struct MaintenanceOutputTests {
    @Test func collectedOutputKeepsLinesInOrderAndNoProgress() {
        let output = CollectedOutput()
        output.line("first")
        output.progress(done: 1, total: 2, what: "blobs")
        output.line("second")
        #expect(output.lines == ["first", "second"])
    }
}
