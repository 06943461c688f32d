import Foundation
import Testing
@testable import RaftLabReport

@Suite("machine, floor and I/O counters")
struct MachineFloorTests {
    @Test func machineInfoDescribesThisMachine() {
        let machine = MachineInfo.current()
        #expect(machine.cores >= 1)
        #expect(machine.cores == ProcessInfo.processInfo.activeProcessorCount)
        #expect(machine.memoryBytes > 64 * 1024 * 1024)
        #expect(machine.os.contains("Linux") || machine.os.contains("Darwin"))
    }

    @Test func parsesMeminfoAndOsRelease() {
        #expect(MachineInfo.memTotal(in: "MemTotal:       16318412 kB\nMemFree: 1 kB\n") == 16_318_412 * 1024)
        #expect(MachineInfo.memTotal(in: "MemFree: 1 kB\n") == nil)
        #expect(MachineInfo.prettyName(in: "NAME=\"Debian\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n")
            == "Debian GNU/Linux 12 (bookworm)")
        #expect(MachineInfo.prettyName(in: "PRETTY_NAME=Alpine\n") == "Alpine")
        #expect(MachineInfo.prettyName(in: "ID=x\n") == nil)
    }

    @Test func fdatasyncFloorIsPositiveBoundedAndCleansUp() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { Fixtures.remove(directory) }
        let clock = ContinuousClock()
        let start = clock.now
        let floor = try FloorProbe.fdatasync(directory: directory, iterations: 200, timeLimit: .seconds(20))
        #expect(clock.now - start < .seconds(25))
        #expect(floor.medianUs > 0)
        #expect(floor.p99Us >= floor.medianUs)
        #expect(floor.samples >= 1 && floor.samples <= 200)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).isEmpty, "probe file left behind")
    }

    @Test func fdatasyncFloorStopsAtItsTimeLimit() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { Fixtures.remove(directory) }
        let floor = try FloorProbe.fdatasync(directory: directory, iterations: 1_000_000, timeLimit: .milliseconds(50))
        #expect(floor.samples >= 1 && floor.samples < 1_000_000)
    }

    @Test func diskFloorsAlternateSingleAndQuorumSamplesAndCleanUp() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { Fixtures.remove(directory) }
        let floors = try FloorProbe.diskFloors(directory: directory, iterations: 40, timeLimit: .seconds(20))
        #expect(floors.single.samples == 40 && floors.quorum.samples == 40)
        #expect(floors.single.medianUs > 0 && floors.quorum.medianUs > 0)
        // The probe's files are gone.
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).isEmpty)
        #expect(throws: FloorProbe.Error.self) {
            try FloorProbe.quorumFdatasync(directory: "/nonexistent/raftlab", iterations: 1)
        }
    }

    @Test func fdatasyncInAMissingDirectoryIsATypedError() {
        #expect(throws: FloorProbe.Error.self) {
            try FloorProbe.fdatasync(directory: "/nonexistent/raftlab", iterations: 1)
        }
    }

    @Test func loopbackRoundTripIsPositiveAndBounded() throws {
        let clock = ContinuousClock()
        let start = clock.now
        let rtt = try FloorProbe.loopbackRoundTrip(roundTrips: 500, timeLimit: .seconds(10))
        #expect(clock.now - start < .seconds(15))
        #expect(rtt.medianUs > 0)
        #expect(rtt.samples >= 1 && rtt.samples <= 500)
        // Repeated probes do not leak the server thread's sockets.
        for _ in 0 ..< 3 { _ = try FloorProbe.loopbackRoundTrip(roundTrips: 20) }
    }

    @Test func measureFillsTheReportFloor() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { Fixtures.remove(directory) }
        let floor = try FloorProbe.measure(directory: directory)
        #expect(floor.fdatasyncUs > 0 && floor.loopbackRttUs > 0)
    }

    @Test func floorMeasurementStatistics() throws {
        let odd = try #require(FloorMeasurement(samplesUs: [5, 1, 3]))
        #expect(odd.medianUs == 3 && odd.p99Us == 5)
        let even = try #require(FloorMeasurement(samplesUs: (1 ... 100).map(Double.init)))
        #expect(even.medianUs == 50.5 && even.p99Us == 99)
        #expect(FloorMeasurement(samplesUs: []) == nil)
    }

    @Test func processWriteBytesIsReadWhereProcfsExists() throws {
        guard FileManager.default.isReadableFile(atPath: "/proc/self/io") else {
            #expect(throws: ProcessIO.Error.self) { try ProcessIO.writeBytes() }
            return
        }
        let before = try ProcessIO.writeBytes()
        let after = try ProcessIO.writeBytes()
        #expect(after >= before)
        #expect(try ProcessIO.field("wchar") > 0)
    }

    @Test func unreadableProcessIOIsATypedErrorNamingTheFile() {
        let error = #expect(throws: ProcessIO.Error.self) { try ProcessIO.writeBytes(pid: Int32.max) }
        guard case let .unreadable(path, _)? = error else {
            Issue.record("expected .unreadable, got \(String(describing: error))")
            return
        }
        #expect(path == "/proc/\(Int32.max)/io")
    }

    @Test func parsesProcIOText() {
        let text = "rchar: 10\nwchar: 20\nread_bytes: 4096\nwrite_bytes: 8192\ncancelled_write_bytes: 0\n"
        #expect(ProcessIO.parse(text, field: "write_bytes") == 8192)
        #expect(ProcessIO.parse(text, field: "missing") == nil)
        #expect(ProcessIO.writeAmplification(diskBytesWritten: 300, userBytes: 100) == 3)
        #expect(ProcessIO.writeAmplification(diskBytesWritten: 300, userBytes: 0) == nil)
    }

    @Test func diskUsageCountsAllocatedBlocks() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { Fixtures.remove(directory) }
        let empty = DiskUsage.allocatedBytes(of: directory)
        try Data(repeating: 7, count: 64 * 1024).write(to: URL(fileURLWithPath: directory + "/data"))
        try FileManager.default.createDirectory(atPath: directory + "/sub", withIntermediateDirectories: false)
        try Data(repeating: 7, count: 8192).write(to: URL(fileURLWithPath: directory + "/sub/more"))
        let used = DiskUsage.allocatedBytes(of: directory)
        #expect(used >= empty + 64 * 1024 + 8192)
        #expect(DiskUsage.allocatedBytes(of: directory + "/missing") == 0)
    }
}
