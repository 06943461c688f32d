/// A Markdown table whose columns are padded to equal width, so the same text
/// reads well rendered (GitHub) and raw (a terminal, `raftlab report`).
struct MarkdownTable {
    enum Alignment { case left, right }

    var headers: [String]
    var alignments: [Alignment]
    var rows: [[String]] = []

    init(headers: [String], alignments: [Alignment]? = nil) {
        self.headers = headers
        self.alignments = alignments ?? headers.indices.map { $0 == 0 ? .left : .right }
    }

    mutating func append(_ row: [String]) {
        precondition(row.count == headers.count, "row has \(row.count) cells, table has \(headers.count) columns")
        rows.append(row)
    }

    /// A cell safe inside a table: pipes escaped, line breaks flattened.
    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "|", with: "\\|")
            .replacingOccurrences(of: "\r\n", with: " ")
            .replacingOccurrences(of: "\n", with: " ")
    }

    func render() -> String {
        let cells = ([headers] + rows).map { $0.map(Self.escape) }
        let widths = headers.indices.map { column in
            Swift.max(3, cells.map { $0[column].count }.max() ?? 0)
        }
        func line(_ row: [String]) -> String {
            let padded = row.enumerated().map { column, text in
                let padding = String(repeating: " ", count: widths[column] - text.count)
                return alignments[column] == .right ? padding + text : text + padding
            }
            return "| " + padded.joined(separator: " | ") + " |"
        }
        let rule = "|" + widths.indices.map { column in
            // As wide as "| cell |": the cell plus its two spaces.
            let dashes = String(repeating: "-", count: widths[column] + 1)
            return alignments[column] == .right ? dashes + ":|" : ":" + dashes + "|"
        }.joined()
        return ([line(cells[0]), rule] + cells.dropFirst().map(line)).joined(separator: "\n") + "\n"
    }
}

/// Which cells of a column hold its best value. Best is the highest or the
/// lowest raw value among the cells that compete (`competing`; all by
/// default); every competing cell that *reads* the same as the best (an
/// exact tie, or equal at the shown precision) is marked too, so two
/// identical looking numbers are never one bold and one plain. A column with
/// fewer than two competing values has no contest and marks nothing; a
/// reference row (memory, no disk at all) never competes.
enum BestValue {
    /// `none`: a column that is information, not a contest.
    enum Direction { case higher, lower, none }

    static func marked(values: [Double?], texts: [String], direction: Direction, competing: [Bool]? = nil) -> [String] {
        guard direction != .none else { return texts }
        let competes = competing ?? values.map { _ in true }
        let present = values.indices.filter { competes[$0] }.compactMap { values[$0] }.filter(\.isFinite)
        guard present.count >= 2 else { return texts }
        let best = direction == .higher ? present.max()! : present.min()!
        let bestTexts = Set(values.indices.filter { competes[$0] && values[$0] == best }.map { texts[$0] })
        return texts.indices.map { index in
            guard competes[index], values[index]?.isFinite == true, bestTexts.contains(texts[index]) else {
                return texts[index]
            }
            return "**\(texts[index])**"
        }
    }
}
