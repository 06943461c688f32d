import Synchronization
import Testing
import RaftLabReport

/// Collects what a `ProgressLine` writes.
final class Sink: Sendable {
    private let text = Mutex("")
    func write(_ s: String) { text.withLock { $0 += s } }
    var output: String { text.withLock { $0 } }
}

@Suite("ProgressLine")
struct ProgressTests {
    @Test func printsNothingWhenNotATerminal() {
        let sink = Sink()
        let progress = ProgressLine(isTerminal: false, output: sink.write)
        #expect(!progress.isEnabled)
        progress.start("writes", total: 10)
        for _ in 0 ..< 10 { progress.advance() }
        progress.update(completed: 10)
        progress.finish()
        #expect(sink.output.isEmpty)
    }

    @Test func redrawsOneLineOnATerminal() {
        let sink = Sink()
        let progress = ProgressLine(isTerminal: true, minimumInterval: .seconds(3600), output: sink.write)
        progress.start("lmdb/lmdb c=8 writes", total: 200)
        for _ in 0 ..< 200 { progress.advance() }
        progress.finish()
        let output = sink.output
        #expect(output.contains("\r\u{1B}[2Klmdb/lmdb c=8 writes  0/200  0%"))
        #expect(output.contains("lmdb/lmdb c=8 writes  100/200  50%"))
        #expect(output.hasSuffix("lmdb/lmdb c=8 writes  200/200  100%\n"))
        // Redraws only when the percentage changes: 101 draws (0...100%) plus the final one.
        #expect(output.components(separatedBy: "\r").count - 1 == 102)
        #expect(output.filter { $0 == "\n" }.count == 1)
    }

    @Test func aNewPhaseKeepsThePreviousLine() {
        let sink = Sink()
        let progress = ProgressLine(isTerminal: true, output: sink.write)
        progress.start("floor", total: 2)
        progress.update(completed: 2)
        progress.start("recovery", total: 0)
        progress.advance(by: 3)
        progress.finish()
        #expect(sink.output.contains("floor  2/2  100%\n"))
        #expect(sink.output.hasSuffix("recovery  3\n"))
    }

    @Test func safeFromManyTasks() async {
        let sink = Sink()
        let progress = ProgressLine(isTerminal: true, output: sink.write)
        progress.start("load", total: 8000)
        await withTaskGroup(of: Void.self) { group in
            for _ in 0 ..< 8 { group.addTask { for _ in 0 ..< 1000 { progress.advance() } } }
        }
        progress.finish()
        #expect(sink.output.hasSuffix("load  8000/8000  100%\n"))
    }
}
