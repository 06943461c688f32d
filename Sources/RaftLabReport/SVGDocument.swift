import Foundation

/// A minimal SVG writer: enough shapes for bar charts, every attribute and
/// text escaped, generic font family only. Hand-written so the report target
/// needs no drawing dependency and the files open in any browser offline.
struct SVGDocument {
    let width: Double
    let height: Double
    private(set) var body: [String] = []

    init(width: Double, height: Double) {
        self.width = width
        self.height = height
    }

    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.count)
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default: out.append(character)
            }
        }
        return out
    }

    /// Coordinates with one decimal: precise enough, and stable text for diffs.
    static func number(_ value: Double) -> String {
        let text = String(format: "%.1f", value)
        return text.hasSuffix(".0") ? String(text.dropLast(2)) : text
    }

    private static func attributes(_ pairs: [(String, String)]) -> String {
        pairs.map { " \($0.0)=\"\(escape($0.1))\"" }.joined()
    }

    mutating func rect(x: Double, y: Double, width: Double, height: Double, fill: String,
                       stroke: String? = nil, tooltip: String? = nil) {
        var attrs = [("x", Self.number(x)), ("y", Self.number(y)), ("width", Self.number(Swift.max(0, width))),
                     ("height", Self.number(Swift.max(0, height))), ("fill", fill)]
        if let stroke { attrs.append(("stroke", stroke)) }
        let open = "<rect" + Self.attributes(attrs)
        if let tooltip {
            body.append(open + "><title>\(Self.escape(tooltip))</title></rect>")
        } else {
            body.append(open + "/>")
        }
    }

    mutating func line(x1: Double, y1: Double, x2: Double, y2: Double, stroke: String,
                       width: Double = 1, dashed: Bool = false) {
        var attrs = [("x1", Self.number(x1)), ("y1", Self.number(y1)), ("x2", Self.number(x2)),
                     ("y2", Self.number(y2)), ("stroke", stroke), ("stroke-width", Self.number(width))]
        if dashed { attrs.append(("stroke-dasharray", "3 3")) }
        body.append("<line" + Self.attributes(attrs) + "/>")
    }

    enum Anchor: String { case start, middle, end }

    mutating func text(_ content: String, x: Double, y: Double, size: Double = 12, anchor: Anchor = .start,
                       weight: String? = nil, fill: String = "#222222", rotate: Double? = nil) {
        var attrs = [("x", Self.number(x)), ("y", Self.number(y)), ("font-size", Self.number(size)),
                     ("text-anchor", anchor.rawValue), ("fill", fill)]
        if let weight { attrs.append(("font-weight", weight)) }
        if let rotate {
            attrs.append(("transform", "rotate(\(Self.number(rotate)) \(Self.number(x)) \(Self.number(y)))"))
        }
        body.append("<text" + Self.attributes(attrs) + ">\(Self.escape(content))</text>")
    }

    /// A standalone document: XML declaration, SVG namespace, white
    /// background, a generic sans-serif font (no external fonts).
    func render(title: String) -> String {
        let w = Self.number(width), h = Self.number(height)
        var out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        out += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(w)\" height=\"\(h)\" viewBox=\"0 0 \(w) \(h)\""
        out += " font-family=\"Helvetica, Arial, sans-serif\" role=\"img\">\n"
        out += "<title>\(Self.escape(title))</title>\n"
        out += "<rect x=\"0\" y=\"0\" width=\"\(w)\" height=\"\(h)\" fill=\"#ffffff\"/>\n"
        out += body.joined(separator: "\n")
        out += "\n</svg>\n"
        return out
    }
}
